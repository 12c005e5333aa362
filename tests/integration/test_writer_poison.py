"""Records DynamoDB cannot store, in a batch with good ones: the bad ones go to writer.dlq with a
reason, the good ones are stored once, offsets commit and the writer stays up (issue 16).

dynalite accepts items nested deeper than DynamoDB's 32 levels (AWS answers ValidationException
"Nesting Levels have exceeded supported limits"), so the writer checks the depth itself; and a record
nested some 190 levels (pydantic still parses it) makes botocore fail with RecursionError while it
builds the request: before the fix that stopped the writer, and every restart, on the same batch.
Where DynamoDB would reject an item that passed our checks, a client that answers ValidationException
for one id (as AWS does, for the whole request) shows the batch is split until that record is alone.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from confluent_kafka import Consumer

from libs.common import kafka
from libs.common.kafka import plaintext_settings
from libs.devstack.servers import free_port
from libs.schemas import DeadLetter, Table, decode, table_name
from libs.storage.tables import DatasetCounters
from tests.integration.pipeline_helpers import ROOT, ServiceProcess
from tests.integration.writer_helpers import (
    count_items,
    produce,
    records_payloads,
    running_writer,
    sanitized,
    wait_until_committed,
)

pytestmark = pytest.mark.integration


def nested_record(i: int, depth: int) -> tuple[str, bytes]:
    """A record whose ``fields`` holds ``depth`` maps one inside the other: the item's ``fields``
    attribute is then ``depth + 2`` levels deep as DynamoDB counts (itself level 1, the leaf last)."""
    record = json.loads(sanitized(i).model_dump_json())
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    record["fields"] = {"deep": value}
    return record["id"], json.dumps(record).encode()


def read_dead_letters(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[DeadLetter]:
    consumer = Consumer(kafka.consumer_config(plaintext_settings(bootstrap), f"reader-{topic}"))
    consumer.subscribe([topic])
    out: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.3)
        if msg is not None and msg.error() is None:
            out.append(decode(DeadLetter, msg.value() or b"{}"))
    # A little longer: nothing more may come (each bad record is dead-lettered once per delivery).
    end = time.monotonic() + 2
    while time.monotonic() < end:
        msg = consumer.poll(0.3)
        if msg is not None and msg.error() is None:
            out.append(decode(DeadLetter, msg.value() or b"{}"))
    consumer.close()
    return out


def test_deep_records_are_dead_lettered_and_the_writer_stays_up(
    kafka_bootstrap: str,
    dynamodb_endpoint: str,
    dynamodb_client: Any,
    table_prefix: str,
    make_topic: Callable[..., str],
    consumer_group: str,
    tmp_path: Path,
    services: list[ServiceProcess],
) -> None:
    topic, dlq = make_topic("sanitized", partitions=1), make_topic("writer-dlq")
    deep_40, too_deep_for_botocore = nested_record(900_040, 40), nested_record(900_190, 190)
    at_limit = nested_record(900_030, 30)  # 32 levels, its attribute counted: DynamoDB takes it
    payloads = records_payloads(range(0, 30))
    payloads += [deep_40, at_limit, *records_payloads(range(30, 60)), too_deep_for_botocore]
    payloads += records_payloads(range(60, 90))
    produce(kafka_bootstrap, topic, payloads)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "AWS_ACCESS_KEY_ID": "tuneline",
        "AWS_SECRET_ACCESS_KEY": "tuneline",
        "TUNELINE_WRITER_TOPIC": topic,
        "TUNELINE_WRITER_DLQ_TOPIC": dlq,
        "TUNELINE_WRITER_GROUP_ID": consumer_group,
        "TUNELINE_WRITER_HTTP_PORT": str(port),
        "TUNELINE_WRITER_BATCH_MAX_RECORDS": "500",  # every record in one batch
        "TUNELINE_WRITER_BATCH_MAX_WAIT_S": "2",
    }
    writer = ServiceProcess("writer", env, tmp_path / "writer.log", ROOT).start()
    services.append(writer)

    wait_until_committed(kafka_bootstrap, consumer_group, topic, 1, timeout_s=120, alive=writer.alive)
    assert writer.alive(), writer.log()[-3000:]
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200

    total, ids = count_items(dynamodb_client, table_name(Table.RECORDS, table_prefix))
    good = {f"helpdesk:{i:08d}" for i in range(90)} | {at_limit[0]}
    assert ids == good and total == len(good)  # every good record once, neither deep one
    assert DatasetCounters(dynamodb_client, table_prefix).get("support")["records_total"] == len(good)

    dead = read_dead_letters(kafka_bootstrap, dlq, expected=2)
    by_key = {d.key.raw().decode(): d for d in dead if d.key is not None}
    assert len(dead) == 2 and set(by_key) == {deep_40[0], too_deep_for_botocore[0]}
    for letter in dead:
        assert letter.reason == "nested_too_deep" and letter.service == "writer"
        assert "32" in letter.detail and "fields" in letter.detail
        assert letter.source_topic == topic and letter.source_offset is not None
    assert "42 levels" in by_key[deep_40[0]].detail
    writer.stop()
    assert writer.proc is not None and writer.proc.returncode == 0, writer.log()[-3000:]


class RejectingDynamo:
    """The real client, except that BatchWriteItem refuses a whole request holding one of ``bad`` ids
    with ValidationException, as DynamoDB does for an item it cannot take, and is throttled now and
    then (which must be retried, never split)."""

    def __init__(self, real: Any, bad: set[str], throttle_every: int = 5) -> None:
        self._real, self.bad, self._throttle_every = real, bad, throttle_every
        self._lock = threading.Lock()
        self.calls: list[tuple[int, str]] = []  # (request size, "throttled" | "rejected" | "ok")

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((_, requests),) = RequestItems.items()
        rejected = any(r["PutRequest"]["Item"]["id"]["S"] in self.bad for r in requests)
        with self._lock:
            throttle = (len(self.calls) + 1) % self._throttle_every == 0
            self.calls.append((len(requests), "throttled" if throttle else "rejected" if rejected else "ok"))
        if throttle:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "BatchWriteItem"
            )
        if rejected:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationException",
                        "Message": "Nesting Levels have exceeded supported limits: Attributes in the "
                        "item have nested levels beyond supported limit",
                    }
                },
                "BatchWriteItem",
            )
        return self._real.batch_write_item(RequestItems=RequestItems)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_record_dynamodb_rejects_is_isolated_by_splitting_the_batch(
    kafka_bootstrap: str,
    dynamodb_client: Any,
    table_prefix: str,
    make_topic: Callable[..., str],
    consumer_group: str,
) -> None:
    topic, dlq = make_topic("sanitized", partitions=1), make_topic("writer-dlq")
    payloads = records_payloads(range(100))
    bad = {payloads[37][0]}  # the 38th record: inside the second chunk of 25
    produce(kafka_bootstrap, topic, payloads)
    client = RejectingDynamo(dynamodb_client, bad)

    with running_writer(
        kafka_bootstrap,
        client,
        table_prefix,
        topic,
        dlq,
        consumer_group,
        threads=2,
        max_wait_s=1.0,
        backoff_cap_s=0.05,
    ) as failure:
        wait_until_committed(
            kafka_bootstrap, consumer_group, topic, 1, timeout_s=90, alive=lambda: not failure
        )
    assert failure == []

    total, ids = count_items(dynamodb_client, table_name(Table.RECORDS, table_prefix))
    assert ids == {key for key, _ in payloads} - bad and total == 99
    assert DatasetCounters(dynamodb_client, table_prefix).get("support")["records_total"] == 99
    dead = read_dead_letters(kafka_bootstrap, dlq, expected=1)
    assert [(d.key.raw().decode() if d.key else None, d.reason) for d in dead] == [
        (next(iter(bad)), "rejected_by_dynamodb")
    ]
    assert dead[0].detail.startswith("ValidationException: Nesting Levels have exceeded")
    assert dead[0].value is not None and dead[0].value.raw() == payloads[37][1]
    # Only the chunk holding the bad record splits, in halves, down to the record alone: at most
    # 1 + ceil(log2(25)) = 6 refused requests and as many accepted halves; throttled requests are
    # retried as they were (never split).
    refused = [size for size, outcome in client.calls if outcome == "rejected"]
    assert refused == sorted(refused, reverse=True) and refused[-1] == 1 and len(refused) <= 6
    assert any(outcome == "throttled" for _, outcome in client.calls)
    print(f"\nrequests: {client.calls}")
