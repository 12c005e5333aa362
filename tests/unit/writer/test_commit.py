"""The writer's offset commit after a stored batch: a group that moved on, or a coordinator that is away
for a while, must not stop the writer (found by tests/reliability/test_broker_restarts.py: the writer
died on ``UNKNOWN_MEMBER_ID`` after a broker restart); anything else still fails the batch."""

from __future__ import annotations

import datetime as dt

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from libs.common.backoff import Backoff
from libs.schemas import RecordKind, SanitizedRecord, encode
from services.writer import metrics
from services.writer.adapters.dynamodb import DynamoBatchWriter
from services.writer.adapters.kafka import RecordWriter
from services.writer.core.batch import BatchLimits
from tests.unit.writer.test_isolate import FakeDynamo

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


class FakeMessage:
    def __init__(self, offset: int) -> None:
        record = SanitizedRecord(
            id=f"r{offset}", source="tickets", kind=RecordKind.SQL, content=f"ticket number {offset}",
            collected_at=NOW, dataset="support", content_hash=f"{offset:032x}", sanitized_at=NOW,
        )  # fmt: skip
        self._offset, self._value = offset, encode(record)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "sanitized.records"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return 1, 1_700_000_000_000 + self._offset


class FakeConsumer:
    """commit() raises the queued errors first, then succeeds."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.attempts = 0
        self.committed: list[list[TopicPartition]] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.attempts += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        self.committed.append(offsets)


class FakeProducer:
    def flush(self, timeout: float) -> int:
        return 0


class FakeCounters:
    def __init__(self) -> None:
        self.added: list[dict[str, int]] = []

    def add(self, counts: dict[str, int], at: str) -> None:
        self.added.append(counts)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every reading is a second later: the retry budget runs out in a few rounds
        return self.now


def record_writer(consumer: FakeConsumer, dynamo: FakeDynamo, budget_s: float = 10.0) -> RecordWriter:
    writer = DynamoBatchWriter(dynamo, "records", threads=1, budget_s=5, backoff=Backoff(0.001, 0.002))
    return RecordWriter(
        consumer, FakeProducer(), "writer.dlq", writer, FakeCounters(),  # type: ignore[arg-type]
        BatchLimits(), shards=4, max_item_bytes=400_000, clock=Clock(), commit_budget_s=budget_s,
        retry_pause_s=0.0,
    )  # fmt: skip


def given_up(reason: str) -> float:
    return float(metrics.COMMITS_GIVEN_UP.labels(reason)._value.get())


def flush_batch(writer: RecordWriter, first: int = 0) -> None:
    for offset in range(first, first + 3):
        writer._handle(FakeMessage(offset))  # type: ignore[arg-type]
    writer.flush()


@pytest.mark.parametrize(
    "code", [KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS]
)
def test_a_group_that_moved_on_skips_the_commit_and_the_writer_goes_on(code: int) -> None:
    consumer, dynamo = FakeConsumer(code), FakeDynamo()
    writer = record_writer(consumer, dynamo)
    before = given_up("group_moved_on")
    flush_batch(writer)
    assert sorted(dynamo.stored) == ["r0", "r1", "r2"]  # stored before the commit was tried
    assert consumer.attempts == 1 and consumer.committed == []  # not retried: the partitions may be gone
    assert given_up("group_moved_on") == before + 1
    flush_batch(writer, first=3)  # the next batch commits as usual
    assert [[tp.offset for tp in offsets] for offsets in consumer.committed] == [[6]]


def test_a_coordinator_away_is_retried_until_it_answers() -> None:
    consumer, dynamo = FakeConsumer(KafkaError._TRANSPORT, KafkaError.COORDINATOR_NOT_AVAILABLE), FakeDynamo()
    writer = record_writer(consumer, dynamo)
    flush_batch(writer)
    assert consumer.attempts == 3
    assert [[tp.offset for tp in offsets] for offsets in consumer.committed] == [[3]]


def test_a_coordinator_away_for_longer_than_the_budget_leaves_the_commit_to_the_next_batch() -> None:
    consumer, dynamo = FakeConsumer(*[KafkaError.NOT_COORDINATOR] * 50), FakeDynamo()
    writer = record_writer(consumer, dynamo, budget_s=5.0)
    before = given_up("coordinator_away")
    flush_batch(writer)
    assert 2 <= consumer.attempts < 10 and consumer.committed == []
    assert given_up("coordinator_away") == before + 1
    assert sorted(dynamo.stored) == ["r0", "r1", "r2"]


def test_any_other_commit_error_fails_the_batch() -> None:
    consumer, dynamo = FakeConsumer(KafkaError.GROUP_AUTHORIZATION_FAILED), FakeDynamo()
    writer = record_writer(consumer, dynamo)
    with pytest.raises(KafkaException, match="GROUP_AUTHORIZATION_FAILED|[Aa]uthoriz"):
        flush_batch(writer)
    assert consumer.attempts == 1
    flush_batch(writer, first=3)  # after a failed flush nothing is committed any more
    assert consumer.committed == []
