"""Runs one source: passes at its poll interval, records onto Kafka, checkpoints behind delivery barriers.

Each source has its own thread and its own producer, so a slow or failing source never blocks another,
a full producer queue pushes back on exactly the source that filled it, and a barrier (waiting for the
producer to empty) only ever waits for this source's records. The producer reports failed deliveries
only (``delivery.report.only.error``): success is known when a barrier's flush returns, which spares a
Python callback per record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from libs.common.backoff import Backoff
from libs.common.deadletter import DeadLetterPublisher
from libs.schemas.records import RECORD_SCHEMA_VERSION
from services.collector import metrics
from services.collector.adapters.kafka import checkpoint_message
from services.collector.core.checkpoint import OffsetTracker
from services.collector.core.errors import ConfigError
from services.collector.core.items import Checkpoint, Emit, Reject
from services.collector.core.source import Source

log = logging.getLogger(__name__)

_CHECK_EVERY = 1000  # records between two looks at the clock, the stop flag and failed deliveries


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
        dlq_keep_value: bool = True,
    ) -> None:
        self.source = source
        self.name = source.name
        self._kind = kind
        self._producer = producer
        self._topic = topic
        self._dead_letters = DeadLetterPublisher(producer, dlq_topic, "collector", keep_value=dlq_keep_value)
        self._offsets_topic = offsets_topic
        self._tracker = OffsetTracker(checkpoint)
        self._poll_interval_s = poll_interval_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self._headers: list[tuple[str, str | bytes | None]] = [
            ("source", source.name.encode()),
            ("kind", kind.encode()),
            ("schema_version", str(RECORD_SCHEMA_VERSION).encode()),
        ]
        self._on_failure = self._delivery_failed  # one bound method for every record
        self._sent_records = 0
        self._sent_bytes = 0
        self._checkpoint_in_flight = False
        self._last_barrier = time.monotonic()
        self.acked_total = 0  # records the broker has acknowledged since start
        self.failure: str | None = None  # why the source stopped for good (a configuration error)

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
                    self._set_health(True)
                    stop.wait(self._poll_interval_s)
                except ConfigError as exc:
                    # Retrying cannot fix the configuration: stop this source (the others go on) and
                    # say why on /readyz instead of backing off forever while looking healthy.
                    self.failure = f"{type(exc).__name__}: {exc}"
                    self._set_health(False)
                    metrics.ERRORS.labels(self.name).inc()
                    log.error(
                        "source stopped: its configuration cannot work (fix it and restart)",
                        extra={"source": self.name, "error": self.failure},
                    )
                    break
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
                    # Everything sent is answered before rewinding, so no late answer can be mistaken
                    # for one about the records sent after reopening.
                    self._drain()
                    self._tracker.rewind()
                    self._close_source()
                    opened = False
                    stop.wait(delay)
        finally:
            try:
                self._barrier()  # what the last pass sent before the stop
            except Exception as exc:  # noqa: BLE001 - stopping anyway; the next start resumes earlier
                log.warning("final checkpoint skipped", extra={"source": self.name, "error": str(exc)})
            self._drain()  # and the checkpoint itself
            if opened:
                self._close_source()
            log.info(
                "source stopped", extra={"source": self.name, "checkpoint": len(self._tracker.committed)}
            )

    def _pass(self, stop: threading.Event) -> None:
        sent = self._tracker.sent
        produce, topic, headers, on_failure = (
            self._producer.produce,
            self._topic,
            self._headers,
            self._on_failure,
        )
        count = 0
        for item in self.source.poll():
            if type(item) is Emit:
                while True:
                    try:
                        produce(topic, item.value, item.key, on_delivery=on_failure, headers=headers)
                        break
                    except BufferError:  # the producer queue is full: wait for the broker, read no further
                        self._producer.poll(0.1)
                self._sent_records += 1
                self._sent_bytes += len(item.value)
            elif isinstance(item, Reject):
                self._dead_letter(item)
            sent[item.position[0]] = item.position[1]
            count += 1
            if count % _CHECK_EVERY == 0:
                self._producer.poll(0)
                if self._tracker.failure is not None or stop.is_set():
                    break
                if time.monotonic() - self._last_barrier >= self._checkpoint_interval_s:
                    self._barrier()
                    sent = self._tracker.sent  # a barrier starts a new dict
        self._barrier()

    def _dead_letter(self, item: Reject) -> None:
        metrics.DEAD_LETTERS.labels(self.name, item.reason).inc()
        partition, offset = item.position
        # keyed by the source; a failed delivery fails the barrier like a record's
        self._dead_letters.publish(
            item.reason,
            item.detail,
            on_delivery=self._on_failure,
            value=item.original or None,
            source=self.name,
            where={**item.where, "kind": self._kind, "position": {"partition": partition, "offset": offset}},
            fallback_key=self.name.encode(),
        )

    def _delivery_failed(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._tracker.failed(err.str())

    # -- barriers and checkpoints ---------------------------------------------------------------------

    def _barrier(self) -> None:
        """Wait for every answer, then checkpoint what was sent (raises ``DeliveryFailed``)."""
        self._drain()
        self._last_barrier = time.monotonic()
        if self._checkpoint_in_flight and self._tracker.failure is None:
            metrics.CHECKPOINT_TIME.labels(self.name).set(time.time())  # the previous one is stored
            self._checkpoint_in_flight = False
        checkpoint = self._tracker.barrier_passed()
        self.acked_total += self._sent_records
        metrics.RECORDS.labels(self.name).inc(self._sent_records)
        metrics.BYTES.labels(self.name).inc(self._sent_bytes)
        self._sent_records = self._sent_bytes = 0
        if checkpoint is not None:
            self._producer.produce(
                self._offsets_topic,
                checkpoint_message(self.name, checkpoint),
                self.name,
                on_delivery=self._checkpoint_failed,
            )
            self._checkpoint_in_flight = True

    def _checkpoint_failed(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:  # the next checkpoint supersedes it; a restart meanwhile re-sends a little more
            self._checkpoint_in_flight = False
            log.warning("checkpoint not stored", extra={"source": self.name, "error": err.str()})

    def _drain(self) -> None:
        """Wait until the broker has answered for everything sent (flush is looped: it may time out)."""
        while self._producer.flush(5.0) > 0:
            log.warning("waiting for Kafka to acknowledge records", extra={"source": self.name})

    def _set_health(self, ok: bool) -> None:
        metrics.SOURCE_UP.labels(self.name).set(1 if ok else 0)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken source must not mask the original error
            log.warning("closing the source failed", extra={"source": self.name, "error": str(exc)})


def sources_ready(runners: Sequence[SourceRunner], threads: Sequence[threading.Thread]) -> tuple[bool, str]:
    """/readyz for the sources: not ready while any source stopped, with its reason when it has one."""
    failed = [f"source {r.name!r}: {r.failure}" for r in runners if r.failure is not None]
    if failed:
        return False, "; ".join(failed)
    dead = [t.name for t in threads if not t.is_alive()]
    if dead:
        return False, f"stopped: {dead}"
    return True, "sources running"
