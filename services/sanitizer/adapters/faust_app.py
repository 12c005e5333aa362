"""The Faust app: two agents around a repartition by content hash.

``raw.*`` --prepare--> ``sanitizer.by-hash`` (key: content hash) --finish--> ``sanitized.records``
                                                                          \\-> ``sanitized.dlq``

``processing_guarantee="at_least_once"`` and agent concurrency 1 (faust-streaming issue 606: with
more, an offset can be committed past an unfinished message). Faust publishes the messages an event
sent and flushes the producer before it commits that event's offset, so a crash re-reads rather than
loses. The ``first-ids`` table (changelog-backed; rocksdict on disk in production, memory in tests)
is partitioned like the by-hash topic, so every copy of a content meets the same table partition.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import faust

from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.adapters.stream import SanitizerStream
from services.sanitizer.build import finish_steps, prepare_steps
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.names import NerTagger
from services.sanitizer.core.pipeline import Pipeline
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.metrics import observe_stage
from services.sanitizer.settings import SanitizerSettings


class TopicOutputs:
    """``adapters.stream.Outputs`` on Faust topics."""

    def __init__(self, by_hash: Any, sanitized: Any, dlq: Any) -> None:
        self._by_hash, self._sanitized, self._dlq = by_hash, sanitized, dlq

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        await self._by_hash.send(key=key, value=value, headers=headers)

    async def sanitized(self, key: bytes, value: bytes) -> None:
        await self._sanitized.send(key=key, value=value)

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        await self._dlq.send(key=key, value=value, headers=headers)


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
    stream = SanitizerStream(
        Pipeline(prepare_steps(policy), observe_stage),
        Pipeline(finish_steps(policy, keys, ner, seen=first_ids, near=near), observe_stage),
        TopicOutputs(by_hash, sanitized, dlq),
        settings.max_record_bytes,
    )

    @app.agent(raw, concurrency=1, name="prepare")
    async def prepare(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for event in events.events():
            msg = event.message
            yield await stream.on_raw(event.key, event.value, msg.topic, msg.partition, msg.offset)

    @app.agent(by_hash, concurrency=1, name="finish")
    async def finish(events: faust.StreamT[bytes]) -> AsyncIterator[str]:
        async for event in events.events():
            msg = event.message
            headers = {k: bytes(v) for k, v in dict(event.headers or {}).items()}
            yield await stream.on_by_hash(
                event.key, event.value, msg.topic, msg.partition, msg.offset, headers
            )

    return SanitizerApp(app, stream, prepare, finish, first_ids)
