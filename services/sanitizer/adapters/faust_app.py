"""The Faust app: two agents around a repartition by content hash.

``raw.*`` --prepare--> ``sanitizer.by-hash`` (key: content hash) --finish--> ``sanitized.records``
                                                                          \\-> ``raw.dlq.sanitizer``

``processing_guarantee="at_least_once"`` and agent concurrency 1 (faust-streaming issue 606: with
more, an offset can be committed past an unfinished message). At-least-once is ours to keep, Faust
0.15.3 does not: ``topic.send`` only queues a message (a failed delivery is logged, not raised), and
a plain ``async for`` over a stream (or ``take``) acks the event in a ``finally`` even when the agent
raises. So the agents take batches with ``stream.noack_take(batch_size, within)`` (the finish agent
runs NER once per batch, as the offline path does) and ack a batch's events only after every message
it sent was confirmed by the broker (``TopicOutputs`` awaits each delivery); a failed send crashes
the worker (agents run under ``CrashingSupervisor``, not restarted in place) with the batch unacked,
so its offsets are never committed and a restarted worker reads it again. The ``first-ids`` table
(changelog-backed; rocksdict on disk in production, memory in tests) is partitioned like the by-hash
topic, so every copy of a content meets the same table partition.

After every rebalance (every start included) Faust clears the agents' buffers late enough to drop
events already fetched for them (faust-streaming issue 596); ``hold_streams_while_resuming`` keeps
them out until then. Events dropped anyway (still queued when the partitions were revoked) must be
read again, never committed past: ``guard_uncommitted_heads`` makes sure of that.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import faust
import faust.streams as faust_streams
from faust.streams import Stream
from faust.transport.consumer import Consumer as FaustConsumer
from mode import CrashingSupervisor

from libs.common.deadletter import MAX_DEAD_LETTER_BYTES
from libs.common.kafka_faust import faust_broker, faust_credentials
from libs.pii.names import NerTagger
from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.adapters.stream import Incoming, Outgoing, SanitizerStream
from services.sanitizer.build import finish_steps, prepare_steps
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.pipeline import Pipeline
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.metrics import OFFSETS_HELD, OFFSETS_SKIPPED, observe_stage
from services.sanitizer.settings import SanitizerSettings

log = logging.getLogger(__name__)

# Room for the key, the headers and Kafka's own framing, above the largest value sent.
_REQUEST_OVERHEAD_BYTES = 256 * 1024


def producer_max_request_size(max_record_bytes: int, max_message_bytes: int) -> int:
    """Faust's ``producer_max_request_size`` (default 1 000 000): a message the sanitizer sends must
    not be refused by its own producer. The stream keeps its outputs under ``max_message_bytes`` and
    dead letters under ``MAX_DEAD_LETTER_BYTES``; records up to ``max_record_bytes`` are accepted."""
    largest = max(max_record_bytes, max_message_bytes, MAX_DEAD_LETTER_BYTES)
    return largest + _REQUEST_OVERHEAD_BYTES


class TopicOutputs:
    """``adapters.stream.Outputs`` on Faust topics: ``send_all`` queues a batch's messages in order,
    then returns once the broker confirmed every one.

    In Faust 0.15.3 ``await topic.send()`` only queues the message and returns a delivery future; a
    failure only sets that future (and logs a warning), so each is awaited here to raise. Queuing the
    whole batch first lets the producer put it in a few requests instead of one round trip per message;
    messages to one partition keep their order. ``force=True`` sends now even if
    ``stream_publish_on_commit`` were on (that would hold the message until the commit we wait for).
    A batch not confirmed within ``timeout_s`` raises ``TimeoutError``: the producer's own timeout is
    Faust's 20 minutes, and a worker waiting that long looks alive while it consumes nothing.
    """

    def __init__(self, by_hash: Any, sanitized: Any, dlq: Any, timeout_s: float = 60.0) -> None:
        self._topics = {"by_hash": by_hash, "sanitized": sanitized, "dead_letter": dlq}
        self._timeout_s = timeout_s

    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        async with asyncio.timeout(self._timeout_s):
            deliveries: list[asyncio.Future[Any]] = []
            for message in messages:
                extra = {"headers": message.headers} if message.headers else {}
                topic = self._topics[message.topic]
                deliveries.append(await topic.send(force=True, key=message.key, value=message.value, **extra))
            for delivery in deliveries:
                # raises when the broker refused the message or the producer gave up; shielded so that a
                # timeout does not cancel the future Faust still resolves
                await asyncio.shield(delivery)


def hold_streams_while_resuming(app: faust.App) -> None:
    """Keeps fetched events out of the agents' buffers until Faust has cleared them after a rebalance.

    Faust 0.15.3 sends ``on_rebalance_complete``, then resumes the stream partitions and seeks them
    (broker round trips) with its flow control already open since the changelog recovery, and only then
    calls ``flow_control.resume()``, which clears the buffers. Events the fetcher delivered in between
    were dropped unseen and unacked: the worker skipped them, and Faust's commits either stopped at the
    gap for good or, for a one-offset gap, went past it (a lost message). Suspended flow control holds
    the fetcher on its first event instead; Faust's own ``resume()`` then clears and lets it through.
    """

    def hold(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        app.flow_control.suspend()

    app.on_rebalance_complete.connect(hold)


def guard_uncommitted_heads(consumer_class: Any) -> None:
    """Never commit past an event that was not processed, even on a partition nothing was committed for.

    Found by tests/reliability/test_sanitizer_churn.py: with two workers starting together, records
    fetched by the first one just before the second joined were lost. Faust 0.15.3 drops the events
    still queued in a stream when the partitions are revoked (they are unacked, so a later seek to the
    committed offset reads them again), but:
    - ``perform_seek`` seeks only partitions that have a committed offset; one without (nothing
      committed yet, the first seconds of a topic) stays past the dropped events;
    - ``_new_offset`` checks that the lowest acked offset follows the committed one only when the
      committed offset is truthy (neither None nor 0), and then lets a one-offset hole through.
    So the next commit went past the dropped events. Patched on the class (once): after Faust's seek,
    a partition with no committed offset is sought to its earliest offset, which is then its committed
    offset as far as the commit logic knows; and no commit is made while the lowest offset processed
    (acked, or a gap Faust recorded for a compacted or transactional range) is above the committed one.
    """
    if getattr(consumer_class, "_tuneline_guarded", False):
        return
    original_seek = consumer_class.perform_seek
    original_new_offset = consumer_class._new_offset

    async def perform_seek(self: Any) -> None:
        await original_seek(self)
        uncommitted = [
            tp
            for tp in self.assignment()
            if self._committed_offset[tp] is None and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if not uncommitted:
            return
        earliest = dict(await self.earliest_offsets(*uncommitted))
        await self.seek_wait(earliest)
        for tp, offset in earliest.items():
            self._committed_offset[tp] = offset
            self._read_offset[tp] = offset or None  # as Faust's own seek records it
        log.info("uncommitted partitions read from their start", extra={"partitions": len(earliest)})

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked, committed = self._acked[tp], self._committed_offset[tp]
        if acked and committed is not None:
            lowest = min(min(acked), min((gap.begin for gap in self._gap[tp]), default=min(acked)))
            if lowest > committed:
                OFFSETS_HELD.labels(tp.topic).inc()
                return None  # the head was never processed: wait for it to be read again
        return cast("int | None", original_new_offset(self, tp))

    consumer_class.perform_seek = perform_seek
    consumer_class._new_offset = _new_offset
    consumer_class._tuneline_guarded = True


async def _process_unacked(
    stream: faust.StreamT[bytes],
    handle: Callable[[Sequence[Incoming]], Awaitable[list[str]]],
    stage: str,
    batch_size: int = 1,
    within_s: float = 0.1,
) -> AsyncIterator[str]:
    """Takes events in batches (up to ``batch_size``, or what came within ``within_s``), runs
    ``handle`` on each batch and acks its events only after it returned (every message it sent
    confirmed); yields one result per event, in order.

    Faust 0.15.3's ``noack_take`` (read in its source): a passive drainer fills a buffer of events,
    each batch is yielded once full or when ``within`` passed since the last batch (a lone event waits
    at most ``within_s``), and nothing is acked (``take`` would ack the events in a ``finally``, even
    when the agent raised). When ``handle`` raises (a send failed) no event of the batch is acked and
    the error crashes the worker: their offsets are not committed, a restart reads them again."""
    gaps = _GapWatch(stage)
    take = cast("Stream[bytes]", stream).noack_take  # StreamT does not declare noack_take
    async for taken in take(batch_size, within=within_s):
        events = cast("list[faust.EventT[bytes]]", taken)
        for event in events:  # in partition order: each event against the one before it
            gaps.check(event.message)
            gaps.done(event.message)
        try:
            results = await handle([_incoming(event) for event in events])
        except Exception as exc:
            first, last = events[0].message, events[-1].message
            log.critical(
                "send not confirmed; stopping without committing the messages",
                extra={
                    "topic": first.topic,
                    "partition": first.partition,
                    "offset": first.offset,
                    "last_offset": last.offset,
                    "error": type(exc).__name__,
                },
            )
            raise
        for event in events:
            await stream.ack(event)
        for result in results:
            yield result


def _incoming(event: faust.EventT[bytes]) -> Incoming:
    msg = event.message
    headers = {k: bytes(v) for k, v in dict(event.headers or {}).items()}
    return Incoming(
        event.key, event.value, msg.topic, msg.partition, msg.offset, headers, lambda: _current(event)
    )


@contextmanager
def _current(event: faust.EventT[bytes]) -> Iterator[None]:
    """Makes ``event`` Faust's current event: a table finds the partition of its changelog write there
    (``Table.partition_for_key``). ``noack_take`` fills its buffer in another task, so the agent's task
    has no current event of its own. Faust has no public setter; this is the context variable its
    stream iteration sets (``faust.streams._current_event``)."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class _GapWatch:
    """Counts the offsets a partition's events skipped: events Faust dropped before the agent saw them
    (what ``hold_streams_while_resuming`` prevents), or compaction and transaction markers. Only
    reported, since those last two are legitimate; a drop shows as a stopped commit or lost records."""

    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._next: dict[Any, tuple[int | None, int]] = {}  # tp -> (generation, next offset)

    def check(self, msg: Any) -> None:
        seen = self._next.get(msg.tp)
        if seen is None or seen[0] != msg.generation_id or msg.offset <= seen[1]:
            return  # first event of an assignment, or a rewind (redelivery) to an earlier offset
        OFFSETS_SKIPPED.labels(self._stage).inc(msg.offset - seen[1])
        log.warning(
            "offsets skipped: events of this partition never reached the agent",
            extra={
                "stage": self._stage,
                "topic": msg.topic,
                "partition": msg.partition,
                "expected_offset": seen[1],
                "offset": msg.offset,
            },
        )

    def done(self, msg: Any) -> None:
        self._next[msg.tp] = (msg.generation_id, msg.offset + 1)


@dataclass
class SanitizerApp:
    app: faust.App
    stream: SanitizerStream
    prepare: Any  # the agents (faust.agents.Agent)
    finish: Any
    first_ids: Any  # the table


def create_app(
    settings: SanitizerSettings, policy: SanitizerPolicy, keys: Keys, ner: NerTagger | None
) -> SanitizerApp:
    shared = settings.shared
    app = faust.App(
        settings.app_id,
        broker=faust_broker(shared),
        broker_credentials=faust_credentials(shared),
        store=settings.store,
        datadir=settings.datadir,
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=producer_max_request_size(
            settings.max_record_bytes, settings.max_message_bytes
        ),
        broker_session_timeout=settings.session_timeout_s,
        web_enabled=False,
        web_port=settings.faust_web_port,
    )
    if not settings.input_topics:  # Faust cannot subscribe by pattern: __main__ resolves it first
        raise ValueError("the sanitizer needs its raw topics by name (input_topics)")
    raw = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
    by_hash = app.topic(
        settings.by_hash_topic,
        partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    sanitized = app.topic(settings.output_topic, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    first_ids = app.Table(
        "first-ids",
        partitions=settings.partitions,
        key_type=str,
        value_type=str,
        help="content hash -> id of the first record with that content",
    )
    near = NearDeduplicator(policy.dedup.near) if policy.dedup.near.enabled else None
    finish_parts = finish_steps(policy, keys, ner, seen=first_ids, near=near)
    stream = SanitizerStream(
        Pipeline(prepare_steps(policy), observe_stage),
        Pipeline(finish_parts.steps, observe_stage),
        finish_parts.record,
        TopicOutputs(by_hash, sanitized, dlq, settings.send_timeout_s),
        settings.max_record_bytes,
        settings.max_message_bytes,
        shared.namespace,
        settings.dlq_keep_value,
    )

    size, within = settings.batch_size, settings.batch_within_s

    @app.agent(raw, concurrency=1, name="prepare", supervisor_strategy=CrashingSupervisor)
    async def prepare(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for result in _process_unacked(events, stream.on_raw_batch, "prepare", size, within):
            yield result

    @app.agent(by_hash, concurrency=1, name="finish", supervisor_strategy=CrashingSupervisor)
    async def finish(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for result in _process_unacked(events, stream.on_by_hash_batch, "finish", size, within):
            yield result

    hold_streams_while_resuming(app)
    guard_uncommitted_heads(FaustConsumer)

    return SanitizerApp(app, stream, prepare, finish, first_ids)
