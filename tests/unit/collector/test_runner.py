"""The source runner with a fake producer: checkpoints trail the acks, failures rewind, full queues wait."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from libs.common.backoff import Backoff
from libs.schemas import DeadLetter, decode
from services.collector.core.errors import ConfigError, SourceUnavailable
from services.collector.core.items import Checkpoint, Emit, Item, Reject
from services.collector.runner import SourceRunner, sources_ready


@dataclass
class FakeError:
    reason: str

    def str(self) -> str:
        return self.reason


@dataclass
class FakeMessage:
    topic: str
    payload: bytes

    def value(self) -> bytes:
        return self.payload


@dataclass
class FakeProducer:
    """Like a producer with ``delivery.report.only.error``: queues messages, delivers them on
    poll/flush, calls back only for failures; can refuse one value once or fill its queue."""

    fail_value: bytes | None = None
    queue_limit: int = 10**9
    queued: list[tuple[str, bytes, Callable[..., None]]] = field(default_factory=list)
    delivered: list[tuple[str, bytes]] = field(default_factory=list)
    buffer_errors: int = 0

    def produce(
        self, topic: str, value: bytes, key: Any = None, on_delivery: Any = None, headers: Any = None
    ) -> None:
        if len(self.queued) >= self.queue_limit:
            self.buffer_errors += 1
            raise BufferError("queue full")
        self.queued.append((topic, value, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        queued, self.queued = self.queued, []
        for topic, value, callback in queued:
            if value == self.fail_value:
                self.fail_value = None
                callback(FakeError("Broker: Message size too large"), FakeMessage(topic, value))
            else:
                self.delivered.append((topic, value))
        return len(queued)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def values(self, topic: str) -> list[bytes]:
        return [v for t, v in self.delivered if t == topic]


class ListSource:
    """Items 0..n-1 on partition "p" (offset = index + 1); stops the runner after ``passes`` passes."""

    def __init__(self, n: int, stop: threading.Event, passes: int = 1) -> None:
        self.name = "list"
        self.n = n
        self.stop = stop
        self.passes = passes
        self.opened_at: list[Checkpoint] = []
        self._next = 0

    def open(self, checkpoint: Checkpoint) -> None:
        self.opened_at.append(checkpoint)
        offset = checkpoint.get("p", 0)
        self._next = offset if isinstance(offset, int) else 0

    def poll(self) -> Iterator[Item]:
        while self._next < self.n:
            i = self._next
            self._next += 1
            if i == 3:
                yield Reject("unparseable_line", "not JSON", ("p", i + 1), {"offset": i}, b"junk")
            else:
                yield Emit(f"id-{i}", f"record-{i}".encode(), ("p", i + 1))
        self.passes -= 1
        if self.passes <= 0:
            self.stop.set()

    def close(self) -> None:
        pass


def run(
    source: ListSource, producer: FakeProducer, stop: threading.Event, dlq_keep_value: bool = True
) -> SourceRunner:
    fake: Any = producer  # duck-typed stand-in for confluent_kafka.Producer
    runner = SourceRunner(
        source, "log", fake, "raw.list", "raw.dlq", "collector.offsets", {}, poll_interval_s=0,
        checkpoint_interval_s=0, backoff=Backoff(base_s=0, cap_s=0), dlq_keep_value=dlq_keep_value,
    )  # fmt: skip
    runner.run(stop)
    return runner


def checkpoints(producer: FakeProducer) -> list[dict[str, Any]]:
    return [orjson.loads(v)["position"] for v in producer.values("collector.offsets")]


def test_records_rejects_and_a_final_checkpoint_behind_everything() -> None:
    stop = threading.Event()
    producer = FakeProducer()
    run(ListSource(2500, stop), producer, stop)
    assert producer.values("raw.list") == [f"record-{i}".encode() for i in range(2500) if i != 3]
    (dead,) = producer.values("raw.dlq")
    letter = decode(DeadLetter, dead)
    assert (letter.reason, letter.service, letter.source) == ("unparseable_line", "collector", "list")
    assert letter.value is not None and letter.value.raw() == b"junk" and not letter.value.truncated
    assert letter.where["kind"] == "log" and letter.where["position"] == {"partition": "p", "offset": 4}
    assert checkpoints(producer)[-1] == {"p": 2500}


def test_dead_letters_without_values_when_told() -> None:
    stop = threading.Event()
    producer = FakeProducer()
    run(ListSource(10, stop), producer, stop, dlq_keep_value=False)
    (dead,) = producer.values("raw.dlq")
    letter = decode(DeadLetter, dead)
    assert letter.reason == "unparseable_line" and letter.value is None and b"junk" not in dead
    assert letter.where["offset"] == 3


def test_a_refused_record_rewinds_the_source_to_the_last_checkpoint_and_resends() -> None:
    stop = threading.Event()
    producer = FakeProducer(fail_value=b"record-1500")
    source = ListSource(2000, stop, passes=2)
    run(source, producer, stop)
    # The checkpoint never passed the refused record: the source reopened at or before it.
    assert len(source.opened_at) == 2
    reopened = source.opened_at[1].get("p", 0)
    assert isinstance(reopened, int) and reopened <= 1500
    delivered = producer.values("raw.list")
    assert set(delivered) == {f"record-{i}".encode() for i in range(2000) if i != 3}
    assert all(
        cp["p"] <= 1500 for cp in checkpoints(producer)[: len(checkpoints(producer)) - 1] if cp["p"] < 2000
    )
    assert checkpoints(producer)[-1] == {"p": 2000}


def test_a_full_producer_queue_makes_the_source_wait_instead_of_dropping() -> None:
    stop = threading.Event()
    producer = FakeProducer(queue_limit=100)
    run(ListSource(1000, stop), producer, stop)
    assert producer.buffer_errors > 0
    assert len(producer.values("raw.list")) == 999


class MisconfiguredSource(ListSource):
    """Fails every open the way a source whose configuration cannot work does; counts the tries."""

    def open(self, checkpoint: Checkpoint) -> None:
        super().open(checkpoint)
        if len(self.opened_at) > 5:  # retried forever: end the test
            self.stop.set()
        raise ConfigError("source 'list': 'lag_s' needs a timestamp cursor")


class FlakySource(ListSource):
    def open(self, checkpoint: Checkpoint) -> None:
        super().open(checkpoint)
        if len(self.opened_at) == 1:
            raise SourceUnavailable("source 'list': database is down")


def test_a_configuration_error_stops_the_source_with_its_reason_instead_of_retrying() -> None:
    stop = threading.Event()
    source = MisconfiguredSource(10, stop)
    runner = run(source, FakeProducer(), stop)
    assert len(source.opened_at) == 1
    assert runner.failure == "ConfigError: source 'list': 'lag_s' needs a timestamp cursor"
    ready, reason = sources_ready([runner], [threading.Thread()])
    assert not ready and "'lag_s' needs a timestamp cursor" in reason


def test_a_transient_error_is_retried_and_leaves_the_source_ready() -> None:
    stop = threading.Event()
    source = FlakySource(10, stop)
    producer = FakeProducer()
    runner = run(source, producer, stop)
    assert len(source.opened_at) == 2 and runner.failure is None
    assert len(producer.values("raw.list")) == 9
    alive = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    alive.start()
    assert sources_ready([runner], [alive]) == (True, "sources running")
