"""Kafka helpers every service shares."""

from __future__ import annotations

import logging
import socket
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from tenacity import retry, retry_if_result, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)


def kafka_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the broker returns cluster metadata with a controller (KRaft quorum is up)."""
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            pass
    except OSError:
        return False
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0, "logger": _quiet_logger}
    admin = AdminClient(config)
    try:
        cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s)
        return cluster.controller is not None and bool(cluster.nodes)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def wait_for_kafka(bootstrap: str, timeout_s: float) -> bool:
    """Start-up: poll until the broker answers (bounded backoff); False when it did not in time."""
    check = retry(
        retry=retry_if_result(lambda ok: not ok),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(timeout_s),
        retry_error_callback=lambda _state: False,
    )(kafka_answers)
    return bool(check(bootstrap))


class _QuietLogger(logging.Logger):
    def log(self, *args: object, **kwargs: object) -> None:  # librdkafka's connection-refused noise
        return None


_quiet_logger = _QuietLogger("librdkafka")


def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    config: dict[str, str] | None = None,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet (name -> partitions); returns those created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(name, partitions, replication, config=config or {})
        for name, partitions in topics.items()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
            log.info("created topic", extra={"topic": name})
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # a replica raced us: fine
                raise
    return created
