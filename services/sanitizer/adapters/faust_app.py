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
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.streams import Stream
from mode import CrashingSupervisor

from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.adapters.stream import MAX_DEAD_LETTER_BYTES, SanitizerStream
from services.sanitizer.build import finish_steps, prepare_steps
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.names import NerTagger
from services.sanitizer.core.pipeline import Pipeline
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.metrics import observe_stage
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
    """

    def __init__(self, by_hash: Any, sanitized: Any, dlq: Any) -> None:
        self._by_hash, self._sanitized, self._dlq = by_hash, sanitized, dlq

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        await _confirmed(self._by_hash, key=key, value=value, headers=headers)

    async def sanitized(self, key: bytes, value: bytes) -> None:
        await _confirmed(self._sanitized, key=key, value=value)

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        await _confirmed(self._dlq, key=key, value=value, headers=headers)


async def _confirmed(topic: Any, **message: Any) -> None:
    delivery = await topic.send(force=True, **message)
    await delivery  # raises when the broker refused the message or the producer gave up


async def _process_unacked(
    stream: faust.StreamT[bytes], handle: Callable[[faust.EventT[bytes]], Awaitable[str]]
) -> AsyncIterator[str]:
    """Runs ``handle`` on each event and acks the event only after it returned (every message it sent
    confirmed). When it raises (a send failed) the event stays unacked and the error crashes the
    worker: its offset is not committed, a restart reads it again."""
    manual: faust.StreamT[bytes] = cast("Stream[bytes]", stream).noack()  # StreamT does not declare noack
    async for event in manual.events():
        try:
            result = await handle(event)
        except Exception as exc:
            msg = event.message
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
        yield result


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
        broker=f"kafka://{shared.kafka_bootstrap}",
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
    if settings.input_topics:
        raw = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")
    else:
        raw = app.topic(
            pattern=re.compile(settings.input_pattern), key_serializer="raw", value_serializer="raw"
        )
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
        TopicOutputs(by_hash, sanitized, dlq),
        settings.max_record_bytes,
        settings.max_message_bytes,
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
        async for result in _process_unacked(events, on_raw):
            yield result

    @app.agent(by_hash, concurrency=1, name="finish", supervisor_strategy=CrashingSupervisor)
    async def finish(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for result in _process_unacked(events, on_by_hash):
            yield result

    return SanitizerApp(app, stream, prepare, finish, first_ids)
