"""``tuneline dev up|down|status``: Kafka and dynalite as background processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from libs.devstack.dynalite import DynaliteProcess, install_dynalite
from libs.devstack.errors import StartError
from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars
from libs.devstack.probes import (
    LOCAL_AWS_KEY_ID,
    LOCAL_AWS_REGION,
    LOCAL_AWS_SECRET,
    dynamodb_answers,
    kafka_answers,
    port_open,
)
from libs.devstack.settings import DevStackSettings


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    env_var: str
    pid: int | None
    answering: bool

    @property
    def env_line(self) -> str:
        return f"{self.env_var}={self.address}"


class DevStack:
    def __init__(self, settings: DevStackSettings) -> None:
        self.settings = settings
        root = settings.stack_dir
        kafka_dir = root / "kafka"
        self.kafka = KafkaProcess(
            libs=settings.cache_dir / "kafka" / "unresolved",  # replaced by install()
            workdir=kafka_dir,
            config=KafkaConfig(
                port=settings.kafka_port,
                controller_port=settings.kafka_controller_port,
                data_dir=str(kafka_dir / "data"),
            ),
            heap=settings.kafka_heap,
        )
        self.dynalite = DynaliteProcess(
            modules=settings.cache_dir / "dynalite" / "unresolved",
            workdir=root / "dynalite",
            port=settings.dynamodb_port,
        )

    def install(self) -> None:
        """Fetch Kafka's jars and dynalite into the cache (no-op when already there)."""
        libs = resolve_kafka_jars(self.settings.cache_dir)
        modules = install_dynalite(self.settings.cache_dir)
        self.kafka = KafkaProcess(libs, self.kafka.workdir, self.kafka.config, self.kafka.heap)
        self.dynalite = DynaliteProcess(modules, self.dynalite.workdir, self.dynalite.port)

    @property
    def admin_token_file(self) -> Path:
        return self.settings.stack_dir / "admin-token"

    def service_env(self) -> dict[str, str]:
        """Besides the two addresses (``status()``), what every service needs to use this stack: the
        region and dummy credentials the DynamoDB-compatible server accepts (boto3 will not sign without
        some), the sanitizer's dev mode (its placeholder pseudonym key is allowed locally) and the
        admin API token's file (made once, readable by this user only)."""
        return {
            "TUNELINE_AWS_REGION": LOCAL_AWS_REGION,
            "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
            "TUNELINE_SANITIZER_DEV_MODE": "true",
            "TUNELINE_ADMIN_TOKEN_FILE": str(self.ensure_admin_token()),
        }

    def ensure_admin_token(self) -> Path:
        """The local admin API token's file, created with a random token on first use."""
        path = self.admin_token_file
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another `dev up` made it a moment ago
            return path
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        return path

    def status(self) -> list[ServerStatus]:
        return [
            ServerStatus(
                "kafka",
                self.kafka.config.bootstrap,
                "TUNELINE_KAFKA_BOOTSTRAP",
                self.kafka.daemon.pid(),
                kafka_answers(self.kafka.config.bootstrap),
            ),
            ServerStatus(
                "dynamodb",
                self.dynalite.endpoint,
                "TUNELINE_DYNAMODB_ENDPOINT",
                self.dynalite.daemon.pid(),
                dynamodb_answers(self.dynalite.endpoint),
            ),
        ]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per state folder (two terminals, a script and a person)."""
        self.settings.stack_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.stack_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def up(self) -> tuple[list[ServerStatus], list[str]]:
        """Start whatever is not running yet; returns the statuses and the names already running."""
        with self._locked():
            already: list[str] = []
            if self.kafka.daemon.pid() is not None:
                already.append("kafka")
            if self.dynalite.daemon.pid() is not None:
                already.append("dynamodb")
            if len(already) == 2:
                return self.status(), already
            wanted: list[tuple[int, str]] = []
            if "kafka" not in already:
                wanted.append((self.kafka.config.port, "TUNELINE_DEV_KAFKA_PORT"))
                wanted.append((self.kafka.config.controller_port, "TUNELINE_DEV_KAFKA_CONTROLLER_PORT"))
            if "dynamodb" not in already:
                wanted.append((self.dynalite.port, "TUNELINE_DEV_DYNAMODB_PORT"))
            for port, variable in wanted:
                if port_open("127.0.0.1", port):
                    raise StartError(f"port {port} is taken by another program; set {variable}")
            self.install()
            started = []
            try:
                if "kafka" not in already:
                    self.kafka.start(self.settings.start_timeout_s)
                    started.append(self.kafka.daemon)
                if "dynamodb" not in already:
                    self.dynalite.start(self.settings.start_timeout_s)
            except StartError:
                for daemon in started:  # no half-started stack
                    daemon.stop()
                raise
            return self.status(), already

    def down(self) -> list[str]:
        """Stop both servers; returns the names that were running. Data stays for the next ``up``."""
        with self._locked():
            stopped = []
            if self.kafka.daemon.stop():
                stopped.append("kafka")
            if self.dynalite.daemon.stop():
                stopped.append("dynamodb")
            return stopped
