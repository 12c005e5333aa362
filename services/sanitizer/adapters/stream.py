"""What the Faust agents do with one message, apart from Faust itself (so it is tested directly).

Stage 1 (``on_raw``, consuming ``raw.*``): parse -> normalize -> filter -> hash, then forward the
normalized record to the by-hash topic keyed by its content hash. Stage 2 (``on_by_hash``): exact
dedup against the partition's table, near dedup, anonymize, route -> ``sanitized.records`` keyed by
record id. Bad input and a failing recognizer go to ``raw.dlq.sanitizer``, reason in a header and in the
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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from libs.common.deadletter import dead_letter_message, log_dead_letter
from libs.schemas import RawRecord, encode
from libs.schemas.names import RAW_TOPIC_PREFIX, namespaced, source_of_raw_topic
from services.sanitizer import metrics
from services.sanitizer.core.dedup import DedupRecorder
from services.sanitizer.core.errors import RecordRejected
from services.sanitizer.core.intake import parse_record
from services.sanitizer.core.normalize import content_hash
from services.sanitizer.core.pipeline import Dropped, Outcome, Pipeline, Work, to_sanitized

log = logging.getLogger(__name__)

_HASH = re.compile(r"[0-9a-f]{16,128}")
# A dead letter (libs.common.deadletter) stays under MAX_DEAD_LETTER_BYTES, far below Kafka's default
# message limit and Faust's producer_max_request_size, so sending one cannot fail on size: the original
# value is cut (``value.truncated``) when the whole would be bigger.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000  # Kafka's message.max.bytes is 1 048 588 by default


@dataclass(frozen=True)
class Incoming:
    """One consumed message: what the stages read of a Faust event."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    headers: dict[str, bytes] = field(default_factory=dict)
    # entered around the dedup history's update for this message: Faust's table writes its changelog
    # to the partition of the event it finds current, and in a batch that must be this message's event
    scope: Callable[[], AbstractContextManager[object]] = field(
        default=nullcontext, compare=False, repr=False
    )


OutputTopic = Literal["by_hash", "sanitized", "dead_letter"]


@dataclass(frozen=True)
class Outgoing:
    """A message to send: to the by-hash topic, ``sanitized.records`` or the dead-letter topic."""

    topic: OutputTopic
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)


class Outputs(Protocol):
    """Where messages go. ``send_all`` sends them in the given order and returns once the broker has
    confirmed every one; it raises when one was not confirmed: messages whose batch returned can be
    acked."""

    async def send_all(self, messages: Sequence[Outgoing]) -> None: ...


@dataclass
class _Batch:
    """The messages a batch of events sends, in event order, and what to count once they are confirmed."""

    messages: list[Outgoing] = field(default_factory=list)
    confirmed: list[Callable[[], None]] = field(default_factory=list)

    def send(self, message: Outgoing, then: Callable[[], None] | None = None) -> None:
        self.messages.append(message)
        if then is not None:
            self.confirmed.append(then)


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
        """Stage 1 for one message; see ``on_raw_batch``."""
        return (await self.on_raw_batch([Incoming(key, value, topic, partition, offset)]))[0]

    async def on_raw_batch(self, items: Sequence[Incoming]) -> list[str]:
        """Stage 1; one result per message, in order (``forwarded``, a drop reason or ``dlq:<reason>``).
        Returns once every message it sent is confirmed."""
        batch = _Batch()
        results: list[str] = [""] * len(items)
        parsed: list[tuple[int, Incoming, bytes, RawRecord]] = []
        for i, item in enumerate(items):
            data = item.value or b""
            metrics.RECORDS_IN.labels(source_of_raw_topic(item.topic, self.namespace)).inc()
            try:
                parsed.append((i, item, data, parse_record(data, self.max_record_bytes)))
            except RecordRejected as exc:
                results[i] = self._dead_letter(batch, item, data, exc.reason, exc.detail)
        outcomes: list[Outcome | None]
        try:  # the steps once over the batch: per record, the pipeline's own costs outweigh the steps'
            outcomes = list(self.prepare.run([Work.of(record) for *_, record in parsed]))
        except Exception:  # noqa: BLE001 - retried record by record below, where a failure is isolated
            outcomes = [None] * len(parsed)
        for (i, item, data, record), ready in zip(parsed, outcomes, strict=True):
            results[i] = self._prepare_one(batch, item, data, record, ready)
        await self._send(batch)
        return results

    def _prepare_one(
        self, batch: _Batch, item: Incoming, data: bytes, record: RawRecord, ready: Outcome | None
    ) -> str:
        try:
            outcome = ready if ready is not None else self.prepare.run_one(Work.of(record))
        except Exception as exc:  # noqa: BLE001 - a record must not stop the stream
            # no traceback: exception messages (pydantic's among them) can quote the values being scanned
            log.error(
                "unexpected failure on a record", extra={"record_id": record.id, "error": type(exc).__name__}
            )
            return self._dead_letter(batch, item, data, "internal_error", type(exc).__name__)
        if isinstance(outcome, Dropped):
            return self._dropped(batch, outcome, item, data)
        normalized = encode(record.model_copy(update={"content": outcome.content}))
        if len(normalized) > self.max_message_bytes:
            detail = _over_limit("normalized", len(normalized), self)
            return self._dead_letter(batch, item, data, "oversize", detail)
        origin = {
            "origin_topic": item.topic.encode(),
            "origin_partition": b"%d" % item.partition,
            "origin_offset": b"%d" % item.offset,
        }
        batch.send(Outgoing("by_hash", outcome.content_hash.encode(), normalized, origin))
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
        """Stage 2 for one message; see ``on_by_hash_batch``."""
        item = Incoming(key, value, topic, partition, offset, headers or {})
        return (await self.on_by_hash_batch([item]))[0]

    async def on_by_hash_batch(self, items: Sequence[Incoming]) -> list[str]:
        """Stage 2; one result per message, in order (``sanitized``, a drop reason or
        ``dlq:<reason>``). The batch goes through the finish steps at once (NER once per batch, as
        offline), then record by record, in order: the output record is built and remembered by the
        dedup history (so a later copy in the same batch is a duplicate), and its message queued. Returns
        once every message is confirmed. Dead letters name the raw message the record came from
        (``origin_*`` headers of stage 1), not the by-hash one."""
        batch = _Batch()
        results: list[str] = [""] * len(items)
        works: list[tuple[int, Incoming, bytes, Work]] = []
        for i, item in enumerate(items):
            data = item.value or b""
            origin = _origin(item)
            try:
                record = parse_record(data, max(self.max_record_bytes * 2, len(data)))
            except RecordRejected as exc:  # only a foreign producer could put this here
                results[i] = self._dead_letter(batch, origin, data, exc.reason, exc.detail)
                continue
            work = Work.of(record)
            hash_key = (item.key or b"").decode(errors="replace")
            is_hash = _HASH.fullmatch(hash_key)
            work.content_hash = hash_key if is_hash else content_hash(work.content, work.fields)
            works.append((i, origin, data, work))
        outcomes: list[Outcome] | None
        try:
            outcomes = self.finish.run([w for *_, w in works])
        except Exception:  # noqa: BLE001 - retried record by record below, where a failure is isolated
            outcomes = None
        stamp = dt.datetime.now(dt.UTC)
        for n, (i, origin, data, work) in enumerate(works):
            ready = outcomes[n] if outcomes is not None else None
            results[i] = self._finish_one(batch, origin, data, work, ready, stamp)
        await self._send(batch)
        return results

    def _finish_one(
        self,
        batch: _Batch,
        origin: Incoming,
        data: bytes,
        work: Work,
        ready: Outcome | None,
        stamp: dt.datetime,
    ) -> str:
        record = work.record
        try:
            outcome = ready if ready is not None else self.finish.run_one(work)
            if isinstance(outcome, Work):
                sanitized = to_sanitized(outcome, stamp)
                output = encode(sanitized)
                if len(output) > self.max_message_bytes:
                    outcome = Dropped(record, "oversize", _over_limit("sanitized", len(output), self), True)
                else:  # last: only a record that goes out is remembered
                    with origin.scope():
                        outcome = self.record.process(outcome)
        except Exception as exc:  # noqa: BLE001 - a record must not stop the stream; sends are not in here
            # no traceback: exception messages (pydantic's among them) can quote the values being scanned
            log.error(
                "unexpected failure on a record", extra={"record_id": record.id, "error": type(exc).__name__}
            )
            return self._dead_letter(batch, origin, data, "internal_error", type(exc).__name__)
        if isinstance(outcome, Dropped):
            return self._dropped(batch, outcome, origin, data)

        def count() -> None:
            metrics.RECORDS_OUT.labels(sanitized.dataset).inc()
            for entity, found in sanitized.pii.items():
                metrics.PII_FOUND.labels(entity).inc(found)
            self.meter.add()

        batch.send(Outgoing("sanitized", sanitized.id.encode(), output), count)
        return "sanitized"

    async def _send(self, batch: _Batch) -> None:
        if batch.messages:
            await self.outputs.send_all(batch.messages)
        for then in batch.confirmed:
            then()

    def _dropped(self, batch: _Batch, dropped: Dropped, origin: Incoming, data: bytes) -> str:
        if dropped.dead_letter:
            return self._dead_letter(batch, origin, data, dropped.reason, dropped.detail)
        metrics.DROPPED.labels(dropped.reason).inc()
        log.debug("record dropped", extra={"record_id": dropped.record.id, "reason": dropped.reason})
        return dropped.reason

    def _dead_letter(self, batch: _Batch, origin: Incoming, data: bytes, reason: str, detail: str) -> str:
        # The detail names the field or the limit, never a value: values may be personal data.
        sent = dead_letter_message(
            service="sanitizer",
            reason=reason,
            detail=detail,
            value=data,
            key=origin.key,
            source=self._source(origin.topic),
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            keep_value=self.keep_dead_letter_values,
        )

        def count() -> None:
            metrics.DEAD_LETTERS.labels(reason).inc()
            log_dead_letter(sent.letter)

        batch.send(Outgoing("dead_letter", sent.key, sent.value, sent.headers), count)
        return f"dlq:{reason}"

    def _source(self, topic: str) -> str | None:
        """The source of a raw topic of the namespace; None for another topic (a by-hash message without
        its origin headers)."""
        if topic.startswith(namespaced(RAW_TOPIC_PREFIX, self.namespace)):
            return source_of_raw_topic(topic, self.namespace)
        return None


def _over_limit(what: str, size: int, stream: SanitizerStream) -> str:
    return f"{what} record of {size} bytes, over the {stream.max_message_bytes}-byte message limit"


def _origin(item: Incoming) -> Incoming:
    """The raw message a by-hash message came from (its ``origin_*`` headers); itself without them."""
    try:
        return replace(
            item,
            topic=item.headers["origin_topic"].decode(),
            partition=int(item.headers["origin_partition"]),
            offset=int(item.headers["origin_offset"]),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return item
