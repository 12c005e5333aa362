"""Kafka and the DynamoDB-compatible server in Docker through Testcontainers.

Two flavours, picked by image name:
- ``tuneline/*`` images built locally (``tuneline dev images``) run with host networking on a
  port we choose, since this machine has no bridge network and no registry;
- official images (``apache/kafka``, ``amazon/dynamodb-local``) where Docker Hub is reachable, on
  the default bridge network with the host port mapped to the same container port, so the address
  Kafka advertises is the one clients use.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libs.devstack.dynalite import dynalite_args
from libs.devstack.errors import StartError
from libs.devstack.images import image_exists
from libs.devstack.kafka import KafkaConfig, new_cluster_id
from libs.devstack.probes import dynamodb_answers, kafka_answers, wait_until

log = logging.getLogger(__name__)


OWNER_LABEL = "dev.tuneline.owner-pid"


def _docker_container(image: str, host_network: bool) -> Any:
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ and (
        host_network or not image_exists(testcontainers_config.ryuk_image)
    ):
        # Ryuk (the reaper) is pulled from Docker Hub and reached through a mapped port: neither works
        # with host networking and no registry. Our own teardown and remove_orphans() do its job.
        log.info("Ryuk disabled (host networking or no Ryuk image)")
        testcontainers_config.ryuk_disabled = True
    kwargs: dict[str, Any] = {"labels": {OWNER_LABEL: str(os.getpid())}}
    if host_network:
        kwargs["network_mode"] = "host"
    return DockerContainer(image).with_kwargs(**kwargs)


def remove_orphans() -> list[str]:
    """Remove test containers whose owning process is gone (a killed test run without Ryuk)."""
    listing = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={OWNER_LABEL}",
            "--format",
            '{{.ID}} {{.Label "' + OWNER_LABEL + '"}}',
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    removed = []
    for line in listing.stdout.splitlines():
        container_id, _, pid = line.partition(" ")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["docker", "rm", "-f", container_id], capture_output=True, check=False)
            removed.append(container_id)
    return removed


def _is_local_image(image: str) -> bool:
    return image.startswith("tuneline/")


def _running(container: Any) -> bool:
    wrapped = container.get_wrapped_container()
    if wrapped is None:
        return False
    wrapped.reload()
    return bool(wrapped.status in ("created", "running"))


@dataclass
class KafkaContainer:
    image: str
    port: int
    controller_port: int
    _container: Any = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> str:
        c = _docker_container(self.image, host_network=_is_local_image(self.image))
        if _is_local_image(self.image):
            props = KafkaConfig(port=self.port, controller_port=self.controller_port).server_properties()
            c.with_env("TUNELINE_KAFKA_PROPERTIES", props).with_env(
                "TUNELINE_KAFKA_CLUSTER_ID", new_cluster_id()
            )
        else:  # apache/kafka reads KAFKA_* variables as server properties
            env = {
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{self.port},CONTROLLER://0.0.0.0:{self.controller_port}",
                "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{self.port}",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{self.controller_port}",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            }
            for key, value in env.items():
                c.with_env(key, value)
            c.with_bind_ports(self.port, self.port)
        self._container = _start_and_wait(
            c, lambda: kafka_answers(self.bootstrap), f"Kafka container {self.image}", timeout_s
        )
        return self.bootstrap

    def stop(self) -> None:
        _stop(self._container)
        self._container = None


@dataclass
class DynamoContainer:
    image: str
    port: int
    _container: Any = field(default=None, init=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> str:
        c = _docker_container(self.image, host_network=_is_local_image(self.image))
        if _is_local_image(self.image):
            c.with_command(dynalite_args(self.port, "/var/lib/dynalite"))
        elif "dynalite" in self.image:
            c.with_command(["--port", str(self.port)]).with_bind_ports(self.port, self.port)
        else:  # amazon/dynamodb-local
            c.with_command(["-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb", "-port", str(self.port)])
            c.with_bind_ports(self.port, self.port)
        self._container = _start_and_wait(
            c, lambda: dynamodb_answers(self.endpoint), f"DynamoDB container {self.image}", timeout_s
        )
        return self.endpoint

    def stop(self) -> None:
        _stop(self._container)
        self._container = None


def _start_and_wait(spec: Any, check: Callable[[], bool], what: str, timeout_s: float) -> Any:
    """Start the container and wait until ``check`` passes; on failure remove it and show its log."""
    started = spec.start()
    try:
        wait_until(check, what, timeout_s, still_alive=lambda: _running(started))
    except StartError as exc:
        out, err = started.get_logs()
        started.stop()
        raise StartError(f"{exc}; container log:\n{(out + err).decode(errors='replace')[-3000:]}") from None
    return started


def _stop(container: Any) -> None:
    if container is not None:
        container.stop()
