"""Fixtures of the fault and load suite (issue 16, ``-m reliability``).

The session servers come from the root conftest (tests/fixtures); the ``services`` fixture of the
integration tests is reused from there, so every process a test starts is stopped when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from tests.integration.conftest import services  # noqa: F401 - registered here for tests/reliability

__all__ = ["namespace", "own_broker", "services"]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaProcess]:
    """A Kafka node of this test's own, which it may kill and start again (same data, same port): the
    session's broker is shared by every test and must not die."""
    workdir = tmp_path / "broker"
    config = KafkaConfig(port=free_port(), controller_port=free_port(), data_dir=str(workdir / "data"))
    kafka = KafkaProcess(
        resolve_kafka_jars(DevStackSettings().cache_dir), workdir, config, die_with_parent=True
    )
    kafka.start()
    yield kafka
    kafka.daemon.stop()


@pytest.fixture
def namespace(unique_id: str, kafka_admin: AdminClient, dynamodb_client: Any) -> Iterator[str]:
    """A TUNELINE_NAMESPACE of this test's own: the services run with their default topic, group and
    table names inside it; its topics and tables are deleted afterwards."""
    ns = f"rel-{unique_id}"
    yield ns
    prefix = f"{ns}."
    topics = [t for t in kafka_admin.list_topics(timeout=30).topics if t.startswith(prefix)]
    if topics:
        for future in kafka_admin.delete_topics(topics).values():
            future.result(timeout=30)
    for page in dynamodb_client.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if name.startswith(prefix):
                dynamodb_client.delete_table(TableName=name)
