"""Shared pieces of the writer's integration tests: records, producing, waiting for commits."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from libs.common.backoff import Backoff
from libs.common.kafka import client_config, plaintext_settings, producer_config
from libs.schemas import RecordKind, SanitizedRecord, Table, encode, table_name
from libs.storage.tables import DatasetCounters, init_tables
from services.writer.adapters import kafka as writer_kafka
from services.writer.adapters.dynamodb import DynamoBatchWriter
from services.writer.core.batch import BatchLimits

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def sanitized(i: int, dataset: str = "support", content: str | None = None) -> SanitizedRecord:
    return SanitizedRecord(
        id=f"helpdesk:{i:08d}",
        source="helpdesk",
        kind=RecordKind.SQL,
        content=content
        if content is not None
        else f"Ticket {i}: VPN drops every {i % 50} minutes on <PERSON_1a2b3c>'s laptop.",
        fields={"ticket": i, "priority": ["low", "high"][i % 2], "score": i / 8},
        metadata={"table": "tickets"},
        collected_at=NOW,
        dataset=dataset,
        content_hash=f"{i:032x}",
        pii={"PERSON": 1},
        sanitized_at=NOW,
    )


def produce(bootstrap: str, topic: str, payloads: list[tuple[str, bytes]]) -> dict[tuple[int, int], str]:
    """Produce (key, value) pairs; returns (partition, offset) -> key from the delivery reports."""
    placed: dict[tuple[int, int], str] = {}
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            placed[(msg.partition(), msg.offset())] = msg.key().decode()

    producer = Producer(
        producer_config(plaintext_settings(bootstrap), {"linger.ms": 20, "compression.type": "zstd"})
    )
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    while producer.flush(10) > 0:
        pass
    assert errors == []
    return placed


def records_payloads(ids: range, dataset: str = "support") -> list[tuple[str, bytes]]:
    return [(r.id, encode(r)) for r in (sanitized(i, dataset) for i in ids)]


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets; empty while the group coordinator is still loading."""
    consumer = Consumer(
        client_config(plaintext_settings(bootstrap), {"group.id": group, "enable.auto.commit": False})
    )
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in offsets}
    except KafkaException:
        return {}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer(client_config(plaintext_settings(bootstrap), {"group.id": "end-offsets-probe"}))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def wait_until_committed(
    bootstrap: str, group: str, topic: str, partitions: int, timeout_s: float, alive: Any = None
) -> None:
    target = end_offsets(bootstrap, topic, partitions)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if committed(bootstrap, group, topic, partitions) == target:
            return
        if alive is not None and not alive():
            raise AssertionError("the writer stopped before committing everything")
        time.sleep(0.5)
    raise AssertionError(
        f"not all offsets committed in {timeout_s}s: {committed(bootstrap, group, topic, partitions)} "
        f"!= {target}"
    )


def count_items(client: Any, table: str) -> tuple[int, set[str]]:
    ids: set[str] = set()
    total = 0
    for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="id"):
        total += len(page["Items"])
        ids.update(item["id"]["S"] for item in page["Items"])
    return total, ids


@contextmanager
def running_writer(
    bootstrap: str,
    client: Any,
    prefix: str,
    topic: str,
    dlq: str,
    group: str,
    on_commit: Callable[[list[TopicPartition]], None] | None = None,
    max_item_bytes: int = 400 * 1024,
    threads: int = 4,
    max_wait_s: float = 0.3,
    backoff_cap_s: float = 0.2,
) -> Iterator[list[BaseException]]:
    """The writer's consumer loop (``RecordWriter``) in a thread of this process, on the real broker and
    server; yields the list its failure lands in (empty while it runs), for the test to assert on."""
    init_tables(client, prefix)
    writer = DynamoBatchWriter(
        client,
        table_name(Table.RECORDS, prefix),
        threads=threads,
        backoff=Backoff(base_s=0.01, cap_s=backoff_cap_s),
    )
    shared = plaintext_settings(bootstrap)
    consumer = Consumer(writer_kafka.consumer_config(shared, group, 300_000))
    service = writer_kafka.RecordWriter(
        consumer,
        Producer(writer_kafka.producer_config(shared)),
        dlq,
        writer,
        DatasetCounters(client, prefix),
        BatchLimits(max_records=500, max_wait_s=max_wait_s),
        shards=8,
        max_item_bytes=max_item_bytes,
        on_commit=on_commit,
    )
    service.subscribe([topic])
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            service.run(stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield failure
    finally:
        stop.set()
        thread.join(60)
        consumer.close()
        writer.close()
