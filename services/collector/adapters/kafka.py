"""Kafka edges of the collector: the producer settings, checkpoint messages, and the offset store.

Checkpoints live in the compacted topic ``collector.offsets``, keyed by source name, as Kafka Connect
keeps source offsets: the latest message per key is the position to resume from.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any, Final

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from libs.common import kafka
from libs.common.settings import SharedSettings
from libs.schemas.names import COLLECTOR_OFFSETS_TOPIC
from services.collector.core.items import Checkpoint

log = logging.getLogger(__name__)

OFFSETS_TOPIC_CONFIG: Final = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def producer_config(
    shared: SharedSettings,
    compression: str = "lz4",
    linger_ms: int = 20,
    queue_max_kbytes: int = 65536,
) -> dict[str, Any]:
    """The shared idempotent producer (acks=all, ordered, de-duplicated retries), tuned for volume."""
    return kafka.producer_config(
        shared,
        {
            # Success is learned from flush() at checkpoint barriers; only failures call back per record.
            "delivery.report.only.error": True,
            "compression.type": compression,
            "linger.ms": linger_ms,
            "batch.size": 1_000_000,
            # Room for a record at the largest max_record_bytes allowed by default plus its headers.
            "message.max.bytes": 1_048_576,
            "queue.buffering.max.kbytes": queue_max_kbytes,
            "queue.buffering.max.messages": 1_000_000,
            "client.id": "tuneline-collector",
        },
    )


def checkpoint_message(source: str, checkpoint: Checkpoint) -> bytes:
    return orjson.dumps(
        {"source": source, "position": checkpoint, "updated_at": dt.datetime.now(dt.UTC)},
        option=orjson.OPT_UTC_Z,
    )


class OffsetStore:
    """Reads every source's last checkpoint from the compacted offsets topic."""

    def __init__(
        self, shared: SharedSettings, topic: str = COLLECTOR_OFFSETS_TOPIC, partitions: int = 1
    ) -> None:
        self.shared = shared
        self.topic = topic
        self.partitions = partitions

    def ensure_topic(self) -> None:
        kafka.ensure_topics(self.shared, {self.topic: self.partitions}, config=OFFSETS_TOPIC_CONFIG)

    def load(self, timeout_s: float = 30.0) -> dict[str, Checkpoint]:
        consumer = Consumer(
            kafka.client_config(
                self.shared,
                {
                    "group.id": f"tuneline-collector-offsets-{uuid.uuid4().hex[:8]}",  # never committed
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                },
            )
        )
        deadline = time.monotonic() + timeout_s
        try:
            partitions, ends = self._extent(consumer, deadline)
            checkpoints: dict[str, Checkpoint] = {}
            consumer.assign([tp for tp in partitions if tp.partition in ends])
            while ends:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {self.topic} took over {timeout_s}s")
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                key = (msg.key() or b"").decode()
                value = msg.value()
                if value is None:
                    checkpoints.pop(key, None)  # a tombstone: the source was reset
                else:
                    position = orjson.loads(value).get("position")
                    if isinstance(position, dict):
                        checkpoints[key] = position
                partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
            return checkpoints
        finally:
            consumer.close()

    def _extent(self, consumer: Consumer, deadline: float) -> tuple[list[TopicPartition], dict[int, int]]:
        """The topic's partitions (at their first offset) and the end offset of each non-empty one.

        A topic created a moment ago can be unknown or leaderless for a while: retried until ``deadline``.
        """
        while True:
            try:
                metadata = consumer.list_topics(self.topic, timeout=5).topics[self.topic]
                if metadata.error is not None:
                    raise KafkaException(metadata.error)
                partitions = [TopicPartition(self.topic, p, 0) for p in metadata.partitions]
                ends = {}
                for tp in partitions:
                    low, high = consumer.get_watermark_offsets(tp, timeout=5)
                    if high > low:
                        ends[tp.partition] = high
                        tp.offset = low
                return partitions, ends
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("waiting for the offsets topic", extra={"topic": self.topic, "error": str(exc)})
                time.sleep(0.5)
