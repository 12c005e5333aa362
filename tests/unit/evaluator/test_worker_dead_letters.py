"""The evaluator worker's dead letters: a DeadLetter with a machine reason, sent and confirmed before the
event's offset is committed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from libs.schemas import DeadLetter, RunStatus, TrainingCompleted, decode
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.worker import EvaluationWorker


@dataclass
class Event:
    """The accessors of a consumed confluent-kafka Message."""

    payload: bytes
    key_: bytes = b"run-1"

    def value(self) -> bytes:
        return self.payload

    def key(self) -> bytes:
        return self.key_

    def headers(self) -> None:
        return None

    def topic(self) -> str:
        return "training.events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 12


@dataclass
class Producer:
    """Delivers on flush; ``refuse`` makes every delivery fail."""

    refuse: bool = False
    pending: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kwargs: Any) -> None:
        self.pending.append(
            ({"topic": topic, "value": value, "key": key, **kwargs}, kwargs.get("on_delivery"))
        )

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for message, callback in self.pending:
            if self.refuse:
                callback("Broker: topic authorization failed", None)
            else:
                self.delivered.append(message)
                if callback is not None:
                    callback(None, None)
        self.pending.clear()
        return 0


class NoRegistry:
    def evaluation(self, run_id: str) -> None:
        raise AssertionError("a dead-lettered event must not reach the registry")


def no_run(run_id: str) -> None:
    raise AssertionError("an unreadable event must not reach the runs table")


def worker(producer: Producer, tmp_path: Path) -> EvaluationWorker:
    fake: Any = producer
    return EvaluationWorker(
        None,  # type: ignore[arg-type]  # handle() never consumes
        fake,
        NoRegistry(),  # type: ignore[arg-type]
        None,
        EvaluatorConfig(),
        tmp_path,
        "training.events",
        "evaluator.dlq",
        runs=no_run,
        evaluations=NoRegistry(),  # type: ignore[arg-type]
    )


def test_an_unreadable_event_becomes_a_dead_letter(tmp_path: Path) -> None:
    producer = Producer()
    worker(producer, tmp_path).handle(Event(b'{"type": "training.completed", "run_id": 7}'))  # type: ignore[arg-type]
    (sent,) = producer.delivered
    assert sent["topic"] == "evaluator.dlq" and sent["key"] == b"run-1"
    assert dict(sent["headers"]) == {
        "reason": b"unreadable_event",
        "service": b"evaluator",
        "source_topic": b"training.events",
    }
    letter = decode(DeadLetter, sent["value"])
    assert (letter.reason, letter.service, letter.source_offset) == ("unreadable_event", "evaluator", 12)
    assert letter.detail.startswith("TrainingEvent.training.completed.run_id")
    assert letter.value is not None and letter.value.raw() == b'{"type": "training.completed", "run_id": 7}'


def test_a_succeeded_run_without_a_model_is_a_dead_letter(tmp_path: Path) -> None:
    event = TrainingCompleted(
        run_id="run-1",
        dataset="general",
        occurred_at=dt.datetime.now(dt.UTC),
        status=RunStatus.SUCCEEDED,
        base_model="tiny",
    )
    producer = Producer()
    worker(producer, tmp_path).handle(Event(event.model_dump_json().encode()))  # type: ignore[arg-type]
    (sent,) = producer.delivered
    assert decode(DeadLetter, sent["value"]).reason == "missing_model_uri"


def test_a_refused_dead_letter_raises_so_the_offset_is_not_committed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="evaluator.dlq"):
        worker(Producer(refuse=True), tmp_path).handle(Event(b"not json"))  # type: ignore[arg-type]
