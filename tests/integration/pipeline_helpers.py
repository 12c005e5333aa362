"""Real services as child processes for tests that chain them (collector -> sanitizer -> writer), and a
reader that keeps every message of a topic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from libs.common.kafka import consumer_config, plaintext_settings
from libs.devstack.process import kill_me_with_parent
from libs.devstack.servers import free_port

ROOT = Path(__file__).parents[2]


class ServiceProcess:
    """``python -m services.<name>`` with the given environment, its output in ``log_path``."""

    def __init__(self, name: str, env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        self.name, self.env, self.log_path, self.cwd = name, dict(env), log_path, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                preexec_fn=kill_me_with_parent,  # a killed test run leaves no service behind
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def sanitizer_env(bootstrap: str, unique_id: str, datadir: Path, **settings: str) -> dict[str, str]:
    """The environment of a sanitizer worker with test ports, a throw-away key and state folder, and
    the default (shipped) policy; ``settings`` are ``TUNELINE_SANITIZER_<NAME>`` values (upper-cased)."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNELINE_KAFKA_BOOTSTRAP": bootstrap,
        "TUNELINE_SANITIZER_PSEUDONYM_KEY": "integration-test-key-" + unique_id * 3,
        "TUNELINE_SANITIZER_PARTITIONS": "2",
        "TUNELINE_SANITIZER_STORE": "memory://",
        "TUNELINE_SANITIZER_DATADIR": str(datadir),
        "TUNELINE_SANITIZER_HTTP_PORT": str(free_port()),
        "TUNELINE_SANITIZER_FAUST_WEB_PORT": str(free_port()),
        "TUNELINE_SANITIZER_SESSION_TIMEOUT_S": "8",
        **{f"TUNELINE_SANITIZER_{name.upper()}": value for name, value in settings.items()},
    }


class TopicReader:
    """Reads a topic from its beginning and keeps every message as (key, value)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.consumer = Consumer(consumer_config(plaintext_settings(bootstrap), group))
        self.consumer.subscribe([topic])
        self.messages: list[tuple[bytes, bytes]] = []

    def until(self, done: Callable[[], bool], timeout_s: float, *services: ServiceProcess) -> TopicReader:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            for service in services:
                assert service.alive(), f"the {service.name} died:\n{service.log()[-4000:]}"
            msg = self.consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                self.messages.append((msg.key() or b"", msg.value() or b""))
        return self

    def close(self) -> None:
        self.consumer.close()


def read_json_until_idle(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every JSON message on the topic (a new consumer group from the beginning), reading until 3 s
    pass without one (10 s for the first): for events that may still be on their way."""
    consumer = Consumer(consumer_config(plaintext_settings(bootstrap), f"t-{time.monotonic_ns()}"))
    consumer.subscribe([topic])
    found: list[dict[str, Any]] = []
    idle_until = time.monotonic() + 10
    try:
        while time.monotonic() < idle_until:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            found.append(json.loads(msg.value() or b"null"))
            idle_until = time.monotonic() + 3
    finally:
        consumer.close()
    return found
