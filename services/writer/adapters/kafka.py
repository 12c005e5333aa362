"""The consumer loop: poll -> decode -> map -> batch -> write -> count -> commit.

``enable.auto.commit`` and ``enable.auto.offset.store`` are off: offsets are committed
explicitly, and only after every record of the batch is durable (an item in DynamoDB, or a message
acknowledged by ``writer.dlq``). A rebalance flushes the batch before the partitions go.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from libs.common import kafka
from libs.common.deadletter import DeadLetterPublisher
from libs.common.settings import SharedSettings
from libs.schemas import SanitizedRecord, SchemaDecodeError, decode
from libs.storage.items import UnstorableRecord, item_size, to_item
from libs.storage.tables import DatasetCounters
from services.writer import metrics
from services.writer.adapters.dynamodb import UNREACHABLE_ERRORS, DynamoBatchWriter, rejection_detail
from services.writer.core.batch import Batch, BatchLimits
from services.writer.core.errors import WriterError

log = logging.getLogger(__name__)

# A commit refused because the group moved on without us (a broker restart or a session timeout
# ended our membership or generation): the partitions may be someone else's by now, so retrying is
# pointless. The batch is stored, so whoever owns the partitions reads it again and writes the same
# items: skipped, never fatal.
GROUP_MOVED_ON = frozenset(
    {KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS}
)
# The group coordinator cannot be reached (a broker restarting): retried within the commit budget,
# then left to the next batch's commit, which covers these offsets too.
COORDINATOR_AWAY = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._WAIT_COORD,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
    }
)


class DeadLetterFailed(WriterError):
    """writer.dlq did not acknowledge a rejected record; its offset must not be committed."""


class RecordWriter:
    def __init__(
        self,
        consumer: Consumer,
        dlq_producer: Producer,
        dlq_topic: str,
        writer: DynamoBatchWriter,
        counters: DatasetCounters,
        limits: BatchLimits,
        shards: int,
        max_item_bytes: int,
        on_commit: Callable[[list[TopicPartition]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        commit_budget_s: float = 30.0,
        retry_pause_s: float = 1.0,
    ) -> None:
        self._consumer = consumer
        self._dlq = dlq_producer
        self._dead_letters = DeadLetterPublisher(dlq_producer, dlq_topic, "writer")
        self._writer = writer
        self._counters = counters
        self._batch = Batch(limits)
        self._shards = shards
        self._max_item_bytes = max_item_bytes
        self._on_commit = on_commit
        self._clock = clock
        self._commit_budget_s = commit_budget_s
        self._retry_pause_s = retry_pause_s
        self._dlq_errors: list[str] = []
        self._last_lag_check = 0.0
        self._failed = False  # after a failed flush nothing may be committed any more

    def subscribe(self, topics: list[str]) -> None:
        self._consumer.subscribe(topics, on_revoke=self._on_revoke)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then finish the batch in flight, commit, and return.
        A batch that cannot be stored raises, with nothing after the last durable batch committed."""
        while not stop.is_set():
            msg = self._consumer.poll(0.1)
            if msg is not None:
                self._handle(msg)
            if self._batch.ready(self._clock()):
                self.flush()
            self._report_lag()
        self.flush()

    def _handle(self, msg: Message) -> None:
        error = msg.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", extra={"error": error.str()})
            return
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        now = self._clock()
        try:
            record = decode(SanitizedRecord, msg.value() or b"")
            _, timestamp_ms = msg.timestamp()
            item = to_item(record, timestamp_ms, self._shards, self._max_item_bytes)
        except SchemaDecodeError as exc:
            self._dead_letter(msg, "invalid_record", str(exc))
            self._batch.mark_done(topic, partition, offset, now)
        except UnstorableRecord as exc:
            self._dead_letter(msg, exc.label, exc.reason)
            self._batch.mark_done(topic, partition, offset, now)
        else:
            self._batch.add(topic, partition, offset, item, record.dataset, item_size(item), now, msg)

    def _dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        # The detail names the field and the limit, never a value: values may be personal data.
        self._dead_letters.publish_kafka_message(msg, reason, detail, on_delivery=self._dlq_delivered)
        metrics.DEAD_LETTERS.labels(reason).inc()

    def _dlq_delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._dlq_errors.append(err.str())

    def flush(self) -> None:
        """Make the batch durable, add its counts, then commit its offsets."""
        if len(self._batch) == 0 or self._failed:
            return
        try:
            self._flush()
        except Exception:
            # Forget the batch: the restart re-reads it from the last commit, and nothing (not even
            # the rebalance that closing the consumer triggers) may commit past it now.
            self._failed = True
            self._batch.clear()
            raise

    def _flush(self) -> None:
        started = time.monotonic()
        items = self._batch.items()
        if items:
            stats = self._writer.write(items)
            metrics.UNPROCESSED_RETRIED.inc(stats.unprocessed)
            metrics.THROTTLED.inc(stats.throttles)
            metrics.SPLIT_REQUESTS.inc(stats.rejections)
            for refused in stats.rejected:
                # Isolated by splitting the batch: only this record fails, the others are stored.
                origin = self._batch.reject(str(refused.item["id"]))
                self._dead_letter(origin, "rejected_by_dynamodb", rejection_detail(refused.error))
        while self._dlq.flush(5.0) > 0:
            log.warning("waiting for writer.dlq to acknowledge rejected records")
        if self._dlq_errors:
            errors, self._dlq_errors = self._dlq_errors, []
            raise DeadLetterFailed(f"writer.dlq refused {len(errors)} records: {errors[0]}")
        counts = self._batch.dataset_counts()
        self._add_counts(dict(counts))
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._batch.offsets_to_commit().items()]
        if self._commit(offsets) and self._on_commit is not None:
            self._on_commit(offsets)
        for dataset, count in counts.items():
            metrics.ITEMS_WRITTEN.labels(dataset).inc(count)
        metrics.BATCHES.inc()
        metrics.BATCH_SECONDS.observe(time.monotonic() - started)
        metrics.LAST_COMMIT.set(time.time())
        log.debug("batch committed", extra={"messages": len(self._batch), "items": len(items)})
        self._batch.clear()

    def _commit(self, offsets: list[TopicPartition]) -> bool:
        """Commit the stored batch's offsets; False when the commit was given up (see GROUP_MOVED_ON
        and COORDINATOR_AWAY): the records are durable either way, so at worst they are read again."""
        deadline = self._clock() + self._commit_budget_s
        while True:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
                return True
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                code = error.code() if error is not None else None
                if code in GROUP_MOVED_ON:
                    reason = "group_moved_on"
                elif code in COORDINATOR_AWAY and self._clock() >= deadline:
                    reason = "coordinator_away"
                elif code in COORDINATOR_AWAY:
                    log.warning("offset commit failed, retrying", extra={"error": str(exc)})
                    time.sleep(self._retry_pause_s)
                    continue
                else:
                    raise
                log.warning(
                    "offset commit given up: the stored batch will be read and written again",
                    extra={"error": str(exc), "reason": reason},
                )
                metrics.COMMITS_GIVEN_UP.labels(reason).inc()
                return False

    def _add_counts(self, counts: dict[str, int], budget_s: float = 60.0) -> None:
        # The records are stored: a server that went away just now must not stop the writer before
        # the commit (the restart would write them again), so wait for it like the write does.
        deadline = self._clock() + budget_s
        while True:
            try:
                self._counters.add(counts, dt.datetime.now(dt.UTC).isoformat())
                return
            except UNREACHABLE_ERRORS:
                if self._clock() > deadline:
                    raise
                log.warning("DynamoDB unreachable while counting, retrying")
                time.sleep(1.0)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Store and commit what we hold while we still own the partitions. If that fails the error
        # propagates out of poll(), the service stops without committing, and a restart re-reads.
        self.flush()

    def _report_lag(self) -> None:
        now = self._clock()
        if now - self._last_lag_check < 15.0:
            return
        self._last_lag_check = now
        try:
            for tp in self._consumer.assignment():
                _, high = self._consumer.get_watermark_offsets(tp, timeout=1.0, cached=True)
                position = self._consumer.position([tp])[0].offset
                if high >= 0 and position >= 0:
                    metrics.CONSUMER_LAG.labels(f"{tp.topic}/{tp.partition}").set(high - position)
        except KafkaException as exc:
            log.debug("lag check failed", extra={"error": str(exc)})


def consumer_config(
    shared: SharedSettings,
    group_id: str,
    max_poll_interval_ms: int,
    instance_id: str | None = None,
    session_timeout_ms: int = 45_000,
) -> dict[str, Any]:
    """The shared consumer preset, committing by hand once a batch is written."""
    extra: dict[str, Any] = {
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "max.poll.interval.ms": max_poll_interval_ms,
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": session_timeout_ms,
    }
    if instance_id:
        extra["group.instance.id"] = instance_id
    return kafka.consumer_config(shared, group_id, extra)


def producer_config(shared: SharedSettings) -> dict[str, Any]:
    """The shared idempotent producer preset, for the dead-letter topic."""
    return kafka.producer_config(shared, {"compression.type": "zstd", "linger.ms": 20})
