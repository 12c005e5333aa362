"""Fixtures of the fault and load suite (issue 16, ``-m reliability``).

The session servers come from the root conftest (tests/fixtures); the ``services`` fixture of the
integration tests is reused from there, so every process a test starts is stopped when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.conftest import services  # noqa: F401 - registered here for tests/reliability

__all__ = ["namespace", "services"]


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
