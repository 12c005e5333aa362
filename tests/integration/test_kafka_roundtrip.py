"""The services' own client settings against the real broker: the collector's raw-record producer
(``services.collector.adapters.kafka.producer_config``, on the shared builder) to the shared consumer
preset, with keys, headers and no duplicates."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

from libs.common.kafka import consumer_config
from libs.common.settings import SharedSettings
from libs.schemas import RawRecord, RecordKind, decode, encode, stable_record_id
from services.collector.adapters.kafka import producer_config

pytestmark = pytest.mark.integration


def _records(n: int) -> list[RawRecord]:
    now = dt.datetime.now(dt.UTC)
    return [
        RawRecord(
            id=stable_record_id("crm", f"ticket-{i}"),
            source="crm",
            kind=RecordKind.SQL,
            content=f"ticket {i}: printer on floor {i % 7} is jammed",
            fields={"n": i},
            metadata={"table": "tickets"},
            collected_at=now,
        )
        for i in range(n)
    ]


def _key(msg: Message) -> str:
    key = msg.key()
    assert isinstance(key, bytes)
    return key.decode()


def _consume(
    shared: SharedSettings, group: str, topic: str, expected: int, timeout_s: float = 60
) -> list[Message]:
    consumer = Consumer(consumer_config(shared, group, {"enable.auto.commit": False}))
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            assert error is None or error.code() == KafkaError._PARTITION_EOF, error
            if error is None:
                messages.append(msg)
    finally:
        consumer.close()
    return messages


def test_the_collectors_producer_round_trips_records_with_keys_headers_and_no_duplicates(
    kafka_settings: SharedSettings, make_topic: Callable[..., str], consumer_group: str
) -> None:
    topic = make_topic("raw", partitions=3)
    records = _records(200)
    failures: list[str] = []
    config = producer_config(kafka_settings, compression="zstd", linger_ms=5)
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    producer = Producer(config)
    for record in records:
        producer.produce(
            topic,
            key=record.id,
            value=encode(record),
            headers={"source": record.source, "kind": record.kind.value, "schema_version": "1"},
            on_delivery=lambda err, _msg: failures.append(str(err)) if err else None,
        )
    assert producer.flush(30) == 0
    assert failures == []

    messages = _consume(kafka_settings, consumer_group, topic, len(records))
    received = {_key(m): decode(RawRecord, m.value() or b"") for m in messages}
    assert received == {r.id: r for r in records}
    assert len(messages) == len(records)  # idempotent producer: no duplicates
    # Keyed messages: every copy of a key lands in the same partition.
    partitions = {_key(m): m.partition() for m in messages}
    assert len(set(partitions.values())) > 1
    headers = dict(messages[0].headers() or [])
    assert headers["source"] == b"crm" and headers["kind"] == b"sql"
