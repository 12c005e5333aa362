"""Runs one source: passes at its poll interval, records onto Kafka, checkpoints behind the acks.

Each source has its own thread and its own producer, so delivery callbacks run on the thread that
owns the source's ``PositionTracker`` (no locks), a slow or failing source never blocks another, and
a full producer queue pushes back on exactly the source that filled it.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from libs.common.backoff import Backoff
from libs.schemas.records import RECORD_SCHEMA_VERSION
from services.collector import metrics
from services.collector.adapters.kafka import checkpoint_message, dead_letter_message
from services.collector.core.checkpoint import DeliveryFailed, PositionTracker
from services.collector.core.items import Checkpoint, Emit, Item, Reject
from services.collector.core.source import Source

log = logging.getLogger(__name__)


class SourceRunner:
    def __init__(
        self,
        source: Source,
        kind: str,
        producer: Producer,
        topic: str,
        dlq_topic: str,
        offsets_topic: str,
        checkpoint: Checkpoint,
        poll_interval_s: float,
        checkpoint_interval_s: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.source = source
        self.name = source.name
        self._kind = kind
        self._producer = producer
        self._topic = topic
        self._dlq_topic = dlq_topic
        self._offsets_topic = offsets_topic
        self._tracker = PositionTracker(checkpoint)
        self._poll_interval_s = poll_interval_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self._headers = [
            ("source", source.name.encode()),
            ("kind", kind.encode()),
            ("schema_version", str(RECORD_SCHEMA_VERSION).encode()),
        ]
        self._last_checkpoint_write = 0.0
        self._acked_records = 0
        self._acked_bytes = 0
        self.passes = 0
        self.healthy = True

    # -- the loop -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        failures = 0
        opened = False
        try:
            while not stop.is_set():
                try:
                    if not opened:
                        self.source.open(self._tracker.committed)
                        opened = True
                    self._pass(stop)
                    failures = 0
                    self.passes += 1
                    self._set_health(True)
                    stop.wait(self._poll_interval_s)
                except Exception as exc:  # noqa: BLE001 - one failing source must never stop the others
                    failures += 1
                    self._set_health(False)
                    metrics.ERRORS.labels(self.name).inc()
                    delay = self._backoff.delay(min(failures, 8))
                    log.warning(
                        "source pass failed; reopening at the last checkpoint",
                        extra={
                            "source": self.name,
                            "error": f"{type(exc).__name__}: {exc}",
                            "retry_in_s": round(delay, 2),
                        },
                    )
                    # Every in-flight item is resolved before rewinding, so the checkpoint we reopen at
                    # covers all that was acknowledged and nothing that was not.
                    self._drain()
                    self._tracker.rewind()
                    self._close_source()
                    opened = False
                    stop.wait(delay)
        finally:
            self._drain()
            self._write_checkpoint(force=True)
            self._drain()
            if opened:
                self._close_source()
            log.info(
                "source stopped",
                extra={"source": self.name, "checkpoint_positions": len(self._tracker.committed)},
            )

    def _pass(self, stop: threading.Event) -> None:
        sent = 0
        for item in self.source.poll():
            self._send(item)
            sent += 1
            if sent % 1000 == 0:
                self._producer.poll(0)
                self._check_failures()
                self._write_checkpoint()
                if stop.is_set():
                    break
        self._drain()
        self._check_failures()
        self._write_checkpoint(force=True)

    # -- sending --------------------------------------------------------------------------------------

    def _send(self, item: Item) -> None:
        seq = self._tracker.sent(item.position)
        if isinstance(item, Emit):
            self._produce(
                self._topic, item.value, item.key, partial(self._record_delivered, seq), self._headers
            )
        elif isinstance(item, Reject):
            metrics.DEAD_LETTERS.labels(self.name, item.reason).inc()
            log.warning(
                "input sent to the dead-letter topic",
                extra={
                    "source": self.name,
                    "reason": item.reason,
                    "detail": item.detail,
                    "where": item.where,
                },
            )
            headers = [("reason", item.reason.encode()), ("source", self.name.encode())]
            value = dead_letter_message(self.name, self._kind, item)
            self._produce(self._dlq_topic, value, self.name, partial(self._other_delivered, seq), headers)

    def _produce(self, topic: str, value: bytes, key: str, callback: Any, headers: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=callback, headers=headers)
                return
            except BufferError:
                # The producer queue is full: wait for the broker instead of reading further.
                self._producer.poll(0.1)

    def _record_delivered(self, seq: int, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._tracker.failed(seq, err.str())
            return
        self._tracker.acked(seq)
        self._acked_records += 1
        self._acked_bytes += len(msg.value() or b"")

    def _other_delivered(self, seq: int, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._tracker.failed(seq, err.str())
        else:
            self._tracker.acked(seq)

    def _check_failures(self) -> None:
        if self._tracker.failure is not None:
            raise DeliveryFailed(f"Kafka did not take a record: {self._tracker.failure}")

    def _drain(self) -> None:
        """Wait until the broker has answered for everything sent (flush is looped: it may time out)."""
        while self._producer.flush(5.0) > 0:
            log.warning("waiting for Kafka to acknowledge records", extra={"source": self.name})
        self._publish_metrics()

    # -- checkpoints ----------------------------------------------------------------------------------

    def _write_checkpoint(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_checkpoint_write < self._checkpoint_interval_s:
            return
        checkpoint = self._tracker.take_advance()
        self._publish_metrics()
        if checkpoint is None:
            return
        self._last_checkpoint_write = now
        self._produce(
            self._offsets_topic,
            checkpoint_message(self.name, checkpoint),
            self.name,
            self._checkpoint_delivered,
            None,
        )

    def _checkpoint_delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            metrics.CHECKPOINT_TIME.labels(self.name).set(time.time())
        else:  # the next checkpoint supersedes it; a restart meanwhile re-sends a little more
            log.warning("checkpoint not stored", extra={"source": self.name, "error": err.str()})

    def _publish_metrics(self) -> None:
        if self._acked_records:
            metrics.RECORDS.labels(self.name).inc(self._acked_records)
            metrics.BYTES.labels(self.name).inc(self._acked_bytes)
            self._acked_records = self._acked_bytes = 0
        metrics.IN_FLIGHT.labels(self.name).set(self._tracker.in_flight)

    def _set_health(self, ok: bool) -> None:
        self.healthy = ok
        metrics.SOURCE_UP.labels(self.name).set(1 if ok else 0)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken source must not mask the original error
            log.warning("closing the source failed", extra={"source": self.name, "error": str(exc)})
