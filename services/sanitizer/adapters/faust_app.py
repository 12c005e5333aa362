"""The Faust app: two agents around a repartition by content hash.

``raw.*`` --prepare--> ``sanitizer.by-hash`` (key: content hash) --finish--> ``sanitized.records``
                                                                          \\-> ``sanitized.dlq``

``processing_guarantee="at_least_once"`` and agent concurrency 1 (faust-streaming issue 606: with
more, an offset can be committed past an unfinished message). At-least-once is ours to keep, Faust
0.15.3 does not: ``topic.send`` only queues a message (a failed delivery is logged, not raised), and
a plain ``async for`` over a stream acks the event in a ``finally`` even when the agent raises. So the
agents iterate ``stream.noack()`` and ack an event only after every message it sent was confirmed by
the broker (``TopicOutputs`` awaits each delivery); a failed send crashes the worker (agents run under
``CrashingSupervisor``, not restarted in place) with the event unacked, so its offset is never
committed and a restarted worker reads it again. The ``first-ids`` table (changelog-backed; rocksdict
on disk in production, memory in tests) is partitioned like the by-hash topic, so every copy of a
content meets the same table partition.

After every rebalance (every start included) Faust clears the agents' buffers late enough to drop
events already fetched for them (faust-streaming issue 596); ``hold_streams_while_resuming`` keeps
them out until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.streams import Stream
from mode import CrashingSupervisor

from libs.common.deadletter import MAX_DEAD_LETTER_BYTES
from libs.common.kafka_faust import faust_broker, faust_credentials
from libs.pii.names import NerTagger
from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.adapters.stream import SanitizerStream
from services.sanitizer.build import finish_steps, prepare_steps
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.pipeline import Pipeline
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.metrics import OFFSETS_SKIPPED, observe_stage
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
    """``adapters.stream.Outputs`` on Faust topics: each send returns once the broker confirmed it.

    In Faust 0.15.3 ``await topic.send()`` returns a delivery future; a failure only sets that future
    (and logs a warning), so it is awaited here to raise. ``force=True`` sends now even if
    ``stream_publish_on_commit`` were on (that would hold the message until the commit we wait for).
    A send not confirmed within ``timeout_s`` raises ``TimeoutError``: the producer's own timeout is
    Faust's 20 minutes, and a worker waiting that long looks alive while it consumes nothing.
    """

    def __init__(self, by_hash: Any, sanitized: Any, dlq: Any, timeout_s: float = 60.0) -> None:
        self._by_hash, self._sanitized, self._dlq = by_hash, sanitized, dlq
        self._timeout_s = timeout_s

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        await self._confirmed(self._by_hash, key=key, value=value, headers=headers)

    async def sanitized(self, key: bytes, value: bytes) -> None:
        await self._confirmed(self._sanitized, key=key, value=value)

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        await self._confirmed(self._dlq, key=key, value=value, headers=headers)

    async def _confirmed(self, topic: Any, **message: Any) -> None:
        async def send() -> None:
            delivery = await topic.send(force=True, **message)
            # raises when the broker refused the message or the producer gave up; shielded so that a
            # timeout does not cancel the future Faust still resolves
            await asyncio.shield(delivery)

        async with asyncio.timeout(self._timeout_s):
            await send()


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


async def _process_unacked(
    stream: faust.StreamT[bytes], handle: Callable[[faust.EventT[bytes]], Awaitable[str]], stage: str
) -> AsyncIterator[str]:
    """Runs ``handle`` on each event and acks the event only after it returned (every message it sent
    confirmed). When it raises (a send failed) the event stays unacked and the error crashes the
    worker: its offset is not committed, a restart reads it again."""
    manual: faust.StreamT[bytes] = cast("Stream[bytes]", stream).noack()  # StreamT does not declare noack
    gaps = _GapWatch(stage)
    async for event in manual.events():
        msg = event.message
        gaps.check(msg)
        try:
            result = await handle(event)
        except Exception as exc:
            log.critical(
                "send not confirmed; stopping without committing the message",
                extra={
                    "topic": msg.topic,
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "error": type(exc).__name__,
                },
            )
            raise
        await manual.ack(event)
        gaps.done(msg)
        yield result


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

    async def on_raw(event: faust.EventT[bytes]) -> str:
        msg = event.message
        return await stream.on_raw(event.key, event.value, msg.topic, msg.partition, msg.offset)

    async def on_by_hash(event: faust.EventT[bytes]) -> str:
        msg = event.message
        headers = {k: bytes(v) for k, v in dict(event.headers or {}).items()}
        return await stream.on_by_hash(event.key, event.value, msg.topic, msg.partition, msg.offset, headers)

    @app.agent(raw, concurrency=1, name="prepare", supervisor_strategy=CrashingSupervisor)
    async def prepare(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for result in _process_unacked(events, on_raw, "prepare"):
            yield result

    @app.agent(by_hash, concurrency=1, name="finish", supervisor_strategy=CrashingSupervisor)
    async def finish(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for result in _process_unacked(events, on_by_hash, "finish"):
            yield result

    hold_streams_while_resuming(app)

    return SanitizerApp(app, stream, prepare, finish, first_ids)
