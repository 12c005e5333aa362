"""The dead-letter builder and publisher: body, key and headers; the size cap; the producer handed in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from libs.common.deadletter import (
    MAX_DEAD_LETTER_BYTES,
    MAX_KEY_BYTES,
    DeadLetterPublisher,
    NotReplayable,
    dead_letter_message,
    original_message,
)
from libs.schemas import DeadLetter, decode

NOW = dt.datetime(2026, 12, 6, 7, 30, tzinfo=dt.UTC)


def test_message_carries_the_letter_the_original_key_and_filterable_headers() -> None:
    sent = dead_letter_message(
        service="sanitizer",
        reason="not_json",
        detail="expected value at line 1 column 1",
        value=b"{oops",
        key=b"k1",
        headers={"kind": b"log"},
        source="support",
        topic="raw.support",
        partition=3,
        offset=17,
        now=NOW,
    )
    letter = decode(DeadLetter, sent.value)
    assert letter == sent.letter
    assert (letter.reason, letter.service, letter.source) == ("not_json", "sanitizer", "support")
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("raw.support", 3, 17)
    assert letter.value is not None and letter.value.raw() == b"{oops" and not letter.value.truncated
    assert letter.key is not None and letter.key.raw() == b"k1"
    assert letter.headers == {"kind": "log"} and letter.dead_lettered_at == NOW
    assert sent.key == b"k1"
    assert sent.headers == {
        "reason": b"not_json",
        "service": b"sanitizer",
        "source": b"support",
        "source_topic": b"raw.support",
    }


def test_without_a_key_the_fallback_keys_the_message() -> None:
    sent = dead_letter_message(
        service="collector", reason="unparseable_line", value=b"junk", fallback_key=b"logs", where={"line": 3}
    )
    assert sent.key == b"logs" and sent.letter.key is None and sent.letter.where == {"line": 3}
    assert "source_topic" not in sent.headers and sent.letter.source_offset is None


def test_a_long_key_is_cut_in_the_body_and_left_off_the_message() -> None:
    key = b"k" * (MAX_KEY_BYTES + 10)
    sent = dead_letter_message(service="writer", reason="oversize", value=b"v", key=key, fallback_key=None)
    assert sent.key is None
    assert sent.letter.key is not None and sent.letter.key.truncated and sent.letter.key.size == len(key)


def test_the_detail_is_capped() -> None:
    sent = dead_letter_message(service="evaluator", reason="evaluation_failed", detail="x" * 10_000)
    assert len(sent.letter.detail) == 2000


def test_keep_value_false_leaves_the_value_out() -> None:
    sent = dead_letter_message(
        service="sanitizer", reason="not_json", value=b"secret@example.com", keep_value=False
    )
    assert sent.letter.value is None and b"secret" not in sent.value


@pytest.mark.parametrize(
    "value",
    [
        b"x" * (MAX_DEAD_LETTER_BYTES - 100),  # fits as bytes, not once the letter is around it
        b"\x01" * (MAX_DEAD_LETTER_BYTES // 3),  # small, but JSON escapes make it 6 times bigger
        b"\xff" * (MAX_DEAD_LETTER_BYTES * 7 // 8),  # not UTF-8: base64 makes it 4/3 bigger
        b"x" * (3 * MAX_DEAD_LETTER_BYTES),  # far too big
        "\u2603".encode() * 200_000,  # multi-byte characters cut on a boundary
    ],
)
def test_a_big_value_is_cut_to_fit_and_flagged(value: bytes) -> None:
    sent = dead_letter_message(
        service="sanitizer", reason="oversize", value=value, key=b"k", topic="raw.support", offset=7
    )
    overhead = len(sent.key or b"") + sum(len(k) + len(v) for k, v in sent.headers.items())
    assert len(sent.value) + overhead <= MAX_DEAD_LETTER_BYTES
    letter = decode(DeadLetter, sent.value)
    assert letter.value is not None and letter.value.truncated and letter.value.size == len(value)
    held = letter.value.raw()
    assert value.startswith(held) and len(held) > MAX_DEAD_LETTER_BYTES // 8  # cut, not thrown away


def test_a_small_max_bytes_keeps_at_least_the_letter() -> None:
    sent = dead_letter_message(service="writer", reason="oversize", value=b"v" * 5000, max_bytes=1000)
    assert len(sent.value) <= 1000
    assert sent.letter.value is not None and sent.letter.value.truncated and sent.letter.value.size == 5000


@dataclass
class RecordingProducer:
    """The part of confluent-kafka's Producer the publisher uses; the queue is full ``full`` times."""

    full: int = 0
    produced: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kwargs: Any) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append({"topic": topic, "value": value, "key": key, **kwargs})

    def poll(self, timeout: float = 0) -> int:
        self.polls += 1
        return 0


@dataclass
class ConsumedMessage:
    """The accessors of a consumed confluent-kafka Message."""

    _value: bytes | None
    _key: bytes | None = b"rec-1"
    _headers: list[tuple[str, bytes]] | None = None

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def topic(self) -> str:
        return "sanitized.records"

    def partition(self) -> int:
        return 1

    def offset(self) -> int:
        return 99


def test_publisher_produces_through_the_given_producer_and_waits_out_a_full_queue() -> None:
    producer = RecordingProducer(full=2)

    def on_delivery(err: object, msg: object) -> None:
        return None

    publisher = DeadLetterPublisher(producer, "writer.dlq", "writer")
    msg = ConsumedMessage(b'{"id": 1}', _headers=[("trace", b"t-1")])
    sent = publisher.publish_kafka_message(
        msg, "invalid_record", "SanitizedRecord.id: bad", on_delivery=on_delivery
    )
    assert producer.polls == 2
    ((produced),) = producer.produced
    assert produced["topic"] == "writer.dlq" and produced["key"] == b"rec-1"
    assert produced["on_delivery"] is on_delivery
    assert dict(produced["headers"])["reason"] == b"invalid_record"
    assert dict(produced["headers"])["service"] == b"writer"
    letter = decode(DeadLetter, produced["value"])
    assert letter == sent.letter and letter.headers == {"trace": "t-1"}
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "sanitized.records",
        1,
        99,
    )
    assert letter.value is not None and letter.value.raw() == b'{"id": 1}'


def test_publisher_keep_value_false_applies_to_every_letter() -> None:
    producer = RecordingProducer()
    publisher = DeadLetterPublisher(producer, "raw.dlq", "collector", keep_value=False)
    publisher.publish("unparseable_line", value=b"jane@example.com", fallback_key=b"logs")
    (produced,) = producer.produced
    assert b"jane" not in produced["value"] and produced["key"] == b"logs"
    assert "on_delivery" not in produced


def test_a_whole_kafka_message_can_be_replayed_from_its_dead_letter() -> None:
    value = b"\xff\x00 a value that is not UTF-8"
    sent = dead_letter_message(
        service="writer",
        reason="invalid_record",
        value=value,
        key=b"rec-1",
        headers=[("kind", b"log")],
        topic="sanitized.records",
        partition=0,
        offset=5,
    )
    letter = decode(DeadLetter, sent.value)
    assert original_message(letter) == ("sanitized.records", b"rec-1", value, [("kind", b"log")])


@pytest.mark.parametrize(
    "origin",
    [
        {"value": b"junk", "where": {"path": "/var/log/a.log"}},  # not from Kafka
        {"value": b"x" * 5000, "topic": "raw.support", "max_bytes": 1000},  # value cut
        {"value": b"v", "topic": "raw.support", "keep_value": False},  # value left out
        {"value": b"v", "topic": "raw.support", "key": b"k" * (MAX_KEY_BYTES + 1)},  # key cut
    ],
)
def test_a_partial_dead_letter_is_not_replayable(origin: dict[str, Any]) -> None:
    sent = dead_letter_message(service="sanitizer", reason="not_json", **origin)
    with pytest.raises(NotReplayable):
        original_message(sent.letter)


def test_a_surprising_reason_is_made_a_label_rather_than_failing_the_dead_letter() -> None:
    sent = dead_letter_message(service="Writer", reason="Unreadable event: bad JSON!")
    assert sent.letter.reason == "unreadable_event_bad_json" and sent.letter.service == "writer"
    assert dead_letter_message(service="x", reason="42").letter.reason == "unknown"
