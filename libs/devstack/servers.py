"""Start a Kafka broker and a DynamoDB-compatible server for a test session or a benchmark, through
Testcontainers when a Docker engine is usable, else as local processes from the same jars and package."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.devstack.errors import StartError
from libs.devstack.images import DYNALITE_IMAGE, KAFKA_IMAGE, docker_usable, image_label
from libs.devstack.settings import DevStackSettings

log = logging.getLogger(__name__)


class Backend(StrEnum):
    DOCKER = "docker"
    PROCESS = "process"


class TestServerSettings(BaseSettings):
    __test__ = False  # not a pytest test class
    model_config = SettingsConfigDict(env_prefix="TUNELINE_TEST_", frozen=True, extra="ignore")

    backend: str = Field(default="auto", pattern="^(auto|docker|process)$")
    kafka_image: str = KAFKA_IMAGE
    dynamodb_image: str = DYNALITE_IMAGE


def choose_backend(requested: str, docker_ok: bool, images_available: bool) -> Backend:
    """auto: Docker when an engine answers and the images are there (or can be pulled), else processes."""
    if requested == Backend.PROCESS:
        return Backend.PROCESS
    if requested == Backend.DOCKER:
        if not docker_ok:
            raise StartError("TUNELINE_TEST_BACKEND=docker, but no Docker engine answers (docker info)")
        return Backend.DOCKER
    return Backend.DOCKER if docker_ok and images_available else Backend.PROCESS


def images_available(*images: str) -> bool:
    """Local ``tuneline/*`` images must have been built; other names are assumed pullable."""
    return all(
        image_label(image, "dev.tuneline.inputs") is not None
        for image in images
        if image.startswith("tuneline/")
    )


def resolve_backend(settings: TestServerSettings) -> Backend:
    if settings.backend == Backend.PROCESS:
        return Backend.PROCESS
    docker_ok = docker_usable()
    return choose_backend(
        settings.backend,
        docker_ok,
        docker_ok and images_available(settings.kafka_image, settings.dynamodb_image),
    )


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, never the same one twice in this process."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass(frozen=True)
class Servers:
    backend: Backend
    kafka_bootstrap: str
    dynamodb_endpoint: str
    kafka_image: str | None = None
    dynamodb_image: str | None = None

    def describe(self) -> str:
        if self.backend is Backend.DOCKER:
            return (
                f"backend=docker (testcontainers) kafka={self.kafka_bootstrap} [{self.kafka_image}] "
                f"dynamodb={self.dynamodb_endpoint} [{self.dynamodb_image}]"
            )
        return f"backend=process kafka={self.kafka_bootstrap} dynamodb={self.dynamodb_endpoint}"


@contextlib.contextmanager
def running_servers(settings: TestServerSettings, workdir: Path) -> Iterator[Servers]:
    """Start both servers on free 127.0.0.1 ports; stop them on exit."""
    backend = resolve_backend(settings)
    if backend is Backend.DOCKER:
        from libs.devstack.containers import DynamoContainer, KafkaContainer, remove_orphans

        for orphan in remove_orphans():
            log.warning("removed container %s left by an earlier, killed test run", orphan)
        kafka = KafkaContainer(settings.kafka_image, free_port(), free_port())
        dynamo = DynamoContainer(settings.dynamodb_image, free_port())
        with contextlib.ExitStack() as stack:
            bootstrap = kafka.start()
            stack.callback(kafka.stop)
            endpoint = dynamo.start()
            stack.callback(dynamo.stop)
            yield Servers(backend, bootstrap, endpoint, settings.kafka_image, settings.dynamodb_image)
        return

    from libs.devstack.dynalite import DynaliteProcess, install_dynalite
    from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars

    cache = DevStackSettings().cache_dir
    kafka_dir = workdir / "kafka"
    kafka_proc = KafkaProcess(
        resolve_kafka_jars(cache),
        kafka_dir,
        KafkaConfig(port=free_port(), controller_port=free_port(), data_dir=str(kafka_dir / "data")),
        die_with_parent=True,
    )
    dynalite_proc = DynaliteProcess(
        install_dynalite(cache), workdir / "dynalite", port=free_port(), die_with_parent=True
    )
    with contextlib.ExitStack() as stack:
        bootstrap = kafka_proc.start()
        stack.callback(kafka_proc.daemon.stop)
        endpoint = dynalite_proc.start()
        stack.callback(dynalite_proc.daemon.stop)
        yield Servers(backend, bootstrap, endpoint)
