"""What the Faust agents do with one message, apart from Faust itself (so it is tested directly).

Stage 1 (``on_raw``, consuming ``raw.*``): parse -> normalize -> filter -> hash, then forward the
normalized record to the by-hash topic keyed by its content hash. Stage 2 (``on_by_hash``): exact
dedup against the partition's table, near dedup, anonymize, route -> ``sanitized.records`` keyed by
record id. Bad input and a failing recognizer go to ``sanitized.dlq``, reason in a header and in the
body; the stream goes on. Dedup history is remembered (``DedupRecorder``) only once the output record
is built, just before it is sent.

A failed send is not a record's fault: ``Outputs`` raise when the broker does not confirm a message,
the error propagates out of ``on_raw``/``on_by_hash``, and the agent stops without acking the message
(at-least-once: a restarted worker reads it again).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Protocol

from libs.common.deadletter import dead_letter_message, log_dead_letter
from libs.schemas import encode
from libs.schemas.names import RAW_TOPIC_PREFIX, namespaced, source_of_raw_topic
from services.sanitizer import metrics
from services.sanitizer.core.dedup import DedupRecorder
from services.sanitizer.core.errors import RecordRejected
from services.sanitizer.core.intake import parse_record
from services.sanitizer.core.normalize import content_hash
from services.sanitizer.core.pipeline import Dropped, Pipeline, Work, to_sanitized

log = logging.getLogger(__name__)

_HASH = re.compile(r"[0-9a-f]{16,128}")
# A dead letter (libs.common.deadletter) stays under MAX_DEAD_LETTER_BYTES, far below Kafka's default
# message limit and Faust's producer_max_request_size, so sending one cannot fail on size: the original
# value is cut (``value.truncated``) when the whole would be bigger.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000  # Kafka's message.max.bytes is 1 048 588 by default


class Outputs(Protocol):
    """Where messages go. Each method returns once the broker has confirmed the message and raises
    when it has not: a message whose sends all returned can be acked."""

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None: ...

    async def sanitized(self, key: bytes, value: bytes) -> None: ...

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None: ...


class SanitizerStream:
    def __init__(
        self,
        prepare: Pipeline,
        finish: Pipeline,
        record: DedupRecorder,
        outputs: Outputs,
        max_record_bytes: int,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        namespace: str = "",
        keep_dead_letter_values: bool = True,
    ) -> None:
        self.prepare = prepare
        self.finish = finish
        self.record = record
        self.outputs = outputs
        self.max_record_bytes = max_record_bytes
        # a bigger output would be refused by the broker, and a refused send stops the worker: such a
        # record is dead-lettered instead
        self.max_message_bytes = max_message_bytes
        self.meter = metrics.RateMeter()
        self.namespace = namespace  # raw topics are <namespace>.raw.<source>
        self.keep_dead_letter_values = keep_dead_letter_values  # false: dead letters without the value

    async def on_raw(
        self, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
    ) -> str:
        """Stage 1; returns what happened (``forwarded``, a drop reason or ``dlq:<reason>``)."""
        data = value or b""
        source = source_of_raw_topic(topic, self.namespace)
        metrics.RECORDS_IN.labels(source).inc()
        try:
            record = parse_record(data, self.max_record_bytes)
        except RecordRejected as exc:
            return await self._dead_letter(key, data, exc.reason, exc.detail, topic, partition, offset)
        try:
            outcome = self.prepare.run_one(Work.of(record))
        except Exception as exc:  # noqa: BLE001 - a record must not stop the stream
            # no traceback: exception messages (pydantic's among them) can quote the values being scanned
            log.error(
                "unexpected failure on a record", extra={"record_id": record.id, "error": type(exc).__name__}
            )
            return await self._dead_letter(
                key, data, "internal_error", type(exc).__name__, topic, partition, offset
            )
        if isinstance(outcome, Dropped):
            return await self._dropped(outcome, key, data, topic, partition, offset)
        normalized = encode(record.model_copy(update={"content": outcome.content}))
        if len(normalized) > self.max_message_bytes:
            detail = _over_limit("normalized", len(normalized), self)
            return await self._dead_letter(key, data, "oversize", detail, topic, partition, offset)
        origin = {
            "origin_topic": topic.encode(),
            "origin_partition": b"%d" % partition,
            "origin_offset": b"%d" % offset,
        }
        await self.outputs.by_hash(outcome.content_hash.encode(), normalized, origin)
        return "forwarded"

    async def on_by_hash(
        self,
        key: bytes | None,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        headers: dict[str, bytes] | None = None,
    ) -> str:
        """Stage 2; returns ``sanitized``, a drop reason or ``dlq:<reason>``. Dead letters name the raw
        message the record came from (``origin_*`` headers of stage 1), not the by-hash one."""
        data = value or b""
        topic, partition, offset = _origin(headers or {}, topic, partition, offset)
        try:
            record = parse_record(data, max(self.max_record_bytes * 2, len(data)))
        except RecordRejected as exc:  # only a foreign producer could put this here
            return await self._dead_letter(key, data, exc.reason, exc.detail, topic, partition, offset)
        work = Work.of(record)
        hash_key = (key or b"").decode(errors="replace")
        work.content_hash = hash_key if _HASH.fullmatch(hash_key) else content_hash(work.content, work.fields)
        try:
            outcome = self.finish.run_one(work)
            if isinstance(outcome, Work):
                sanitized = to_sanitized(outcome, dt.datetime.now(dt.UTC))
                output = encode(sanitized)
                if len(output) > self.max_message_bytes:
                    outcome = Dropped(record, "oversize", _over_limit("sanitized", len(output), self), True)
                else:  # last: only a record that goes out is remembered
                    outcome = self.record.process(outcome)
        except Exception as exc:  # noqa: BLE001 - a record must not stop the stream; sends are not in here
            # no traceback: exception messages (pydantic's among them) can quote the values being scanned
            log.error(
                "unexpected failure on a record", extra={"record_id": record.id, "error": type(exc).__name__}
            )
            return await self._dead_letter(
                key, data, "internal_error", type(exc).__name__, topic, partition, offset
            )
        if isinstance(outcome, Dropped):
            return await self._dropped(outcome, key, data, topic, partition, offset)
        await self.outputs.sanitized(sanitized.id.encode(), output)
        metrics.RECORDS_OUT.labels(sanitized.dataset).inc()
        for entity, count in sanitized.pii.items():
            metrics.PII_FOUND.labels(entity).inc(count)
        self.meter.add()
        return "sanitized"

    async def _dropped(
        self, dropped: Dropped, key: bytes | None, data: bytes, topic: str, partition: int, offset: int
    ) -> str:
        if dropped.dead_letter:
            return await self._dead_letter(
                key, data, dropped.reason, dropped.detail, topic, partition, offset
            )
        metrics.DROPPED.labels(dropped.reason).inc()
        log.debug("record dropped", extra={"record_id": dropped.record.id, "reason": dropped.reason})
        return dropped.reason

    async def _dead_letter(
        self,
        key: bytes | None,
        data: bytes,
        reason: str,
        detail: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> str:
        # The detail names the field or the limit, never a value: values may be personal data.
        sent = dead_letter_message(
            service="sanitizer",
            reason=reason,
            detail=detail,
            value=data,
            key=key,
            source=self._source(topic),
            topic=topic,
            partition=partition,
            offset=offset,
            keep_value=self.keep_dead_letter_values,
        )
        await self.outputs.dead_letter(sent.key, sent.value, sent.headers)
        metrics.DEAD_LETTERS.labels(reason).inc()
        log_dead_letter(sent.letter)
        return f"dlq:{reason}"

    def _source(self, topic: str) -> str | None:
        """The source of a raw topic of the namespace; None for another topic (a by-hash message without
        its origin headers)."""
        if topic.startswith(namespaced(RAW_TOPIC_PREFIX, self.namespace)):
            return source_of_raw_topic(topic, self.namespace)
        return None


def _over_limit(what: str, size: int, stream: SanitizerStream) -> str:
    return f"{what} record of {size} bytes, over the {stream.max_message_bytes}-byte message limit"


def _origin(headers: dict[str, bytes], topic: str, partition: int, offset: int) -> tuple[str, int, int]:
    try:
        return (
            headers["origin_topic"].decode(),
            int(headers["origin_partition"]),
            int(headers["origin_offset"]),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return topic, partition, offset
