"""Planted canaries: published as raw records into a source's topic (so they travel the whole pipeline,
through the sanitizer) and remembered in the state table, where the evaluator finds them.

Item: state table, ``pk "canary#<id>"``: ``canary`` (the ``Canary`` as JSON: template and secret),
``source``, ``record_id``, ``planted_at``. Anyone who can read the table can read the secrets: they are
test data, but keep the table's read access as narrow as the records'.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Producer

from libs.common.kafka import producer_config
from libs.common.settings import SharedSettings
from libs.schemas import RawRecord, RecordKind, Table, encode, raw_topic, table_name
from libs.schemas.records import stable_record_id
from services.evaluator.core.canary import Canary


class CanaryStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = table_name(Table.STATE, prefix)

    def put(self, canary: Canary, source: str, record_id: str, now: dt.datetime) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"canary#{canary.id}"},
                "canary": {"S": canary.model_dump_json()},
                "source": {"S": source},
                "record_id": {"S": record_id},
                "planted_at": {"S": now.isoformat()},
            },
        )

    def all(self) -> list[Canary]:
        found: list[Canary] = []
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "canary#"}},
            ConsistentRead=True,
        ):
            found.extend(Canary.model_validate_json(item["canary"]["S"]) for item in page.get("Items", []))
        return sorted(found, key=lambda c: c.id)


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
    producer = Producer(producer_config(shared))
    errors: list[KafkaError] = []
    records = [canary_record(c, source, now) for c in canaries]
    for record in records:
        producer.produce(
            raw_topic(source, namespace),
            key=record.id.encode(),
            value=encode(record),
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
    if producer.flush(30) or errors:
        raise RuntimeError(f"could not publish every canary: {errors[:1] or 'timed out'}")
    for canary, record in zip(canaries, records, strict=True):
        store.put(canary, source, record.id, now)
    return records
