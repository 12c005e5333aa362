"""Planted canaries: published as raw records into a source's topic (so they travel the whole pipeline,
through the sanitizer, as training data would) and remembered in the canary-secrets table, where the
evaluator finds them.

Table ``<prefix>canary-secrets`` (``libs.storage.tables``), key ``id``: ``canary`` (the ``Canary`` as
JSON: template and secret), ``source``, ``record_id``, ``planted_at``. It is a table of its own so that
IAM can give its reads to the evaluator alone (README, "IAM"): the state table, which the writer and
the trainer read and write, holds no secret. The ids are random (``core.canary.new_canary_id``), so the
ids that reports and logs print say nothing about the secrets.

Canaries planted by earlier versions sit in the state table as ``canary#<id>`` items, with ids that
name the seed of their secrets; ``purge_legacy`` deletes them (plant new ones).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Final

from confluent_kafka import KafkaError, Producer

from libs.common.kafka import producer_config
from libs.common.settings import SharedSettings
from libs.schemas import RawRecord, RecordKind, Table, encode, raw_topic, table_name
from libs.schemas.records import stable_record_id
from libs.storage.tables import canary_secrets_table
from services.evaluator.core.canary import Canary

LEGACY_PREFIX: Final = "canary#"  # state-table items of earlier versions


class CanaryStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = canary_secrets_table(prefix)

    @property
    def table(self) -> str:
        return self._table

    def put(self, canary: Canary, source: str, record_id: str, now: dt.datetime) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "id": {"S": canary.id},
                "canary": {"S": canary.model_dump_json()},
                "source": {"S": source},
                "record_id": {"S": record_id},
                "planted_at": {"S": now.isoformat()},
            },
        )

    def all(self) -> list[Canary]:
        found: list[Canary] = []
        for page in self._client.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            found.extend(Canary.model_validate_json(item["canary"]["S"]) for item in page.get("Items", []))
        return sorted(found, key=lambda c: c.id)


def purge_legacy(client: Any, prefix: str) -> int:
    """Delete the ``canary#`` items earlier versions kept in the state table (their secrets, readable
    by every service of the state table, behind ids that named their seed); returns how many."""
    state = table_name(Table.STATE, prefix)
    deleted = 0
    for page in client.get_paginator("scan").paginate(
        TableName=state,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": LEGACY_PREFIX}},
        ProjectionExpression="pk",
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            client.delete_item(TableName=state, Key={"pk": item["pk"]})
            deleted += 1
    return deleted


def canary_record(canary: Canary, source: str, now: dt.datetime) -> RawRecord:
    """A raw record that looks like any other log line of ``source``, with the canary's sentence in it."""
    return RawRecord(
        id=stable_record_id(source, json.dumps(["canary", canary.id])),
        source=source,
        kind=RecordKind.LOG,
        content=f"{now:%Y-%m-%dT%H:%M:%SZ} INFO user note: {canary.text}",
        metadata={"planted": "canary"},
        collected_at=now,
    )


def plant(
    shared: SharedSettings,
    store: CanaryStore,
    canaries: Sequence[Canary],
    source: str,
    now: dt.datetime,
    namespace: str = "",
) -> list[RawRecord]:
    """Publish each canary to ``raw.<source>`` (in ``namespace``) and remember it; returns the records
    sent."""
    records = [canary_record(c, source, now) for c in canaries]
    # Remembered before they are sent: a canary the evaluator knows but the pipeline never saw is
    # harmless, one sent but not remembered would be a leak nobody checks.
    for canary, record in zip(canaries, records, strict=True):
        store.put(canary, source, record.id, now)
    producer = Producer(producer_config(shared))
    errors: list[KafkaError] = []
    for record in records:
        producer.produce(
            raw_topic(source, namespace),
            key=record.id.encode(),
            value=encode(record),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not publish every canary: {errors[:1] or 'timed out'}")
    return records
