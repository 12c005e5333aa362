"""The writer against real Kafka and the real DynamoDB-compatible server."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from confluent_kafka import Consumer, TopicPartition

from libs.common import kafka
from libs.common.kafka import plaintext_settings
from libs.schemas import DeadLetter, Table, decode, table_name
from libs.storage.items import item_content
from libs.storage.tables import DatasetCounters
from tests.integration.writer_helpers import (
    count_items,
    produce,
    records_payloads,
    running_writer,
    sanitized,
    wait_until_committed,
)

pytestmark = pytest.mark.integration


def test_every_record_stored_once_counted_and_bad_ones_dead_lettered(
    kafka_bootstrap: str,
    dynamodb_client: Any,
    table_prefix: str,
    make_topic: Callable[..., str],
    consumer_group: str,
) -> None:
    topic, dlq = make_topic("sanitized", partitions=3), make_topic("writer-dlq")
    payloads = records_payloads(range(1500)) + records_payloads(range(1500, 2000), dataset="billing")
    payloads += payloads[:300]  # replays: the same ids again
    payloads.append(("poison-1", b'{"id": "poison-1", "source": "helpdesk"}'))
    payloads.append(("poison-2", b"\xff not json"))
    huge = sanitized(99_999, content=random.Random(1).randbytes(300_000).hex())  # ~300 KB even compressed
    payloads.append((huge.id, huge.model_dump_json().encode()))
    compressible = sanitized(88_888, content="the same line again\n" * 30_000)
    payloads.append((compressible.id, compressible.model_dump_json().encode()))
    produce(kafka_bootstrap, topic, payloads)

    with running_writer(
        kafka_bootstrap, dynamodb_client, table_prefix, topic, dlq, consumer_group, max_item_bytes=200 * 1024
    ) as failure:
        wait_until_committed(kafka_bootstrap, consumer_group, topic, 3, timeout_s=120)
    assert failure == []

    records_table = table_name(Table.RECORDS, table_prefix)
    total, ids = count_items(dynamodb_client, records_table)
    assert total == len(ids) == 2001  # 2000 records + the compressible one; replays overwrote themselves
    assert f"helpdesk:{88_888:08d}" in ids and f"helpdesk:{99_999:08d}" not in ids
    stored = dynamodb_client.get_item(TableName=records_table, Key={"id": {"S": compressible.id}})["Item"]
    assert item_content({"content_z": stored["content_z"]["B"]}) == compressible.content

    counters = DatasetCounters(dynamodb_client, table_prefix)
    support, billing = counters.get("support"), counters.get("billing")
    # At-least-once counters: replays inside one batch count once, across batches they may count twice.
    assert 1501 <= support["records_total"] <= 1501 + 300
    assert billing["records_total"] == billing["records_since_training"] == 500

    dead = _read_all(kafka_bootstrap, dlq, expected=3)
    by_key = {d.key.raw().decode(): d for d in dead if d.key is not None}
    assert sorted((d.reason, k) for k, d in by_key.items()) == [
        ("invalid_record", "poison-1"),
        ("invalid_record", "poison-2"),
        ("oversize", huge.id),
    ]
    poison = by_key["poison-1"]
    assert poison.detail.startswith("SanitizedRecord.") and poison.source_topic == topic
    assert poison.service == "writer" and poison.source_offset is not None
    originals = dict(payloads)
    for key in ("poison-1", "poison-2"):  # kept exact (poison-2 is not UTF-8: base64)
        kept = by_key[key].value
        assert kept is not None and kept.raw() == originals[key] and not kept.truncated
    big = by_key[huge.id].value  # over the dead-letter size cap: cut, and said so
    assert big is not None and big.truncated and big.size == len(originals[huge.id])
    assert originals[huge.id].startswith(big.raw())


def _read_all(bootstrap: str, topic: str, expected: int) -> list[DeadLetter]:
    consumer = Consumer(kafka.consumer_config(plaintext_settings(bootstrap), f"reader-{topic}"))
    consumer.subscribe([topic])
    out: list[DeadLetter] = []
    for _ in range(200):
        msg = consumer.poll(0.3)
        if msg is not None and msg.error() is None:
            out.append(decode(DeadLetter, msg.value() or b"{}"))
            assert dict(msg.headers() or [])["reason"] == out[-1].reason.encode()
        if len(out) >= expected:
            break
    consumer.close()
    return out


class FlakyDynamo:
    """A real client that DynamoDB 'throttles': ~10% of BatchWriteItem calls fail as a whole and
    ~30% store only part of the request and hand the rest back as UnprocessedItems."""

    def __init__(self, real: Any, seed: int) -> None:
        self._real = real
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stored: set[str] = set()
        self.throttled = self.partial = 0

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        with self._lock:
            roll = self._rng.random()
            cut = self._rng.randint(0, len(requests) - 1) if len(requests) > 1 else 0
        if roll < 0.10:
            with self._lock:
                self.throttled += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                "BatchWriteItem",
            )
        sent, held_back = (requests[:cut], requests[cut:]) if roll < 0.40 and cut else (requests, [])
        response = (
            self._real.batch_write_item(RequestItems={table: sent}) if sent else {"UnprocessedItems": {}}
        )
        unprocessed = response.get("UnprocessedItems", {}).get(table, []) + held_back
        with self._lock:
            self.partial += bool(held_back)
            done = {r["PutRequest"]["Item"]["id"]["S"] for r in sent}
            done -= {
                r["PutRequest"]["Item"]["id"]["S"]
                for r in response.get("UnprocessedItems", {}).get(table, [])
            }
            self.stored |= done
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.slow
def test_throttling_loses_nothing_and_never_commits_ahead_of_storage(
    kafka_bootstrap: str,
    dynamodb_client: Any,
    table_prefix: str,
    make_topic: Callable[..., str],
    consumer_group: str,
) -> None:
    n = 50_000
    topic, dlq = make_topic("sanitized", partitions=3), make_topic("writer-dlq")
    placed = produce(kafka_bootstrap, topic, records_payloads(range(n)))
    flaky = FlakyDynamo(dynamodb_client, seed=42)
    violations: list[str] = []
    commits = 0

    def check_commit(offsets: list[TopicPartition]) -> None:
        nonlocal commits
        commits += 1
        for tp in offsets:
            missing = [
                placed[(tp.partition, o)]
                for o in range(tp.offset)
                if placed[(tp.partition, o)] not in flaky.stored
            ]
            if missing:
                violations.append(
                    f"partition {tp.partition} committed {tp.offset} with {len(missing)} unstored"
                )

    with running_writer(
        kafka_bootstrap, flaky, table_prefix, topic, dlq, consumer_group, on_commit=check_commit
    ) as failure:
        wait_until_committed(kafka_bootstrap, consumer_group, topic, 3, timeout_s=400)
    assert failure == []

    total, ids = count_items(dynamodb_client, table_name(Table.RECORDS, table_prefix))
    print(
        f"\nthrottling test: {n} records, {commits} commits, {flaky.throttled} throttled requests, "
        f"{flaky.partial} partial writes, {total} items stored"
    )
    assert violations == []
    assert flaky.throttled > 50 and flaky.partial > 100
    assert total == len(ids) == n
