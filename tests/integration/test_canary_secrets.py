"""Planting canaries on the real broker and DynamoDB-compatible server: the records go to the source's
raw topic as any other, the secrets to a table of their own, nothing of them to the state table that
the writer and the trainer share (issue 16)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from libs.common.kafka import consumer_config
from libs.common.settings import SharedSettings
from libs.schemas import RawRecord, Table, decode, raw_topic, table_name
from libs.storage.tables import DatasetCounters, canary_secrets_table, init_tables
from services.evaluator.adapters.canaries import CanaryStore, plant, purge_legacy
from services.evaluator.core.canary import Canary, make_canaries

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def source(kafka_admin: AdminClient, unique_id: str) -> Iterator[str]:
    name = f"canary-{unique_id}"
    topic = raw_topic(name)
    kafka_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    yield name
    kafka_admin.delete_topics([topic])[topic].result(timeout=30)


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]


def read_records(settings: SharedSettings, topic: str, expected: int) -> list[RawRecord]:
    consumer = Consumer(consumer_config(settings, f"reader-{topic}"))
    consumer.subscribe([topic])
    out: list[RawRecord] = []
    for _ in range(100):
        msg = consumer.poll(0.3)
        if msg is not None and msg.error() is None:
            out.append(decode(RawRecord, msg.value() or b""))
        if len(out) >= expected:
            break
    consumer.close()
    return out


def test_planted_canaries_keep_their_secrets_out_of_the_state_table(
    kafka_settings: SharedSettings, dynamodb_client: Any, table_prefix: str, source: str
) -> None:
    init_tables(dynamodb_client, table_prefix)
    DatasetCounters(dynamodb_client, table_prefix).add({"support": 3}, NOW.isoformat())
    store = CanaryStore(dynamodb_client, table_prefix)
    planted = make_canaries(None, 4, prefix="canary-20261206T120000")

    records = plant(kafka_settings, store, planted, source, NOW)

    # The pipeline still gets every canary sentence, as a log line of the source.
    sent = read_records(kafka_settings, raw_topic(source), expected=4)
    assert sorted(r.id for r in sent) == sorted(r.id for r in records)
    assert {c.text for c in planted} == {r.content.split("user note: ")[1] for r in sent}
    # The evaluator reads them back from their own table.
    assert store.table == canary_secrets_table(table_prefix) == f"{table_prefix}canary-secrets"
    assert store.all() == sorted(planted, key=lambda c: c.id)
    stored = scan(dynamodb_client, store.table)
    assert sorted(item["id"]["S"] for item in stored) == sorted(c.id for c in planted)
    # Nothing of them in the state table (the writer's counters are all it holds) or the runs table.
    for table in (Table.STATE, Table.RUNS):
        text = json.dumps(scan(dynamodb_client, table_name(table, table_prefix)))
        for canary in planted:
            assert canary.secret not in text and canary.text not in text and canary.id not in text


def test_purge_legacy_deletes_the_canaries_earlier_versions_kept_in_the_state_table(
    dynamodb_client: Any, table_prefix: str
) -> None:
    init_tables(dynamodb_client, table_prefix)
    state = table_name(Table.STATE, table_prefix)
    counters = DatasetCounters(dynamodb_client, table_prefix)
    counters.add({"support": 3}, NOW.isoformat())
    legacy = Canary(id="canary-20261101T000000-4242-0", secret="739150")  # noqa: S106 - test data
    dynamodb_client.put_item(
        TableName=state, Item={"pk": {"S": f"canary#{legacy.id}"}, "canary": {"S": legacy.model_dump_json()}}
    )

    assert purge_legacy(dynamodb_client, table_prefix) == 1
    assert [item["pk"]["S"] for item in scan(dynamodb_client, state)] == ["dataset#support"]
    assert counters.get("support")["records_total"] == 3
    assert purge_legacy(dynamodb_client, table_prefix) == 0
