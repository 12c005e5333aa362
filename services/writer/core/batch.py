"""A batch of consumed messages on its way to DynamoDB, and the offsets it may commit once durable.

Every consumed message ends in the batch: as an item to write, or as "done" when it went to the
dead-letter topic (before the write, or after DynamoDB refused its item: ``reject``). Only when the
whole batch is durable are its offsets committed, so an offset is never committed ahead of the
records before it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchLimits:
    max_records: int = 1000
    max_bytes: int = 8 * 1024 * 1024
    max_wait_s: float = 1.0


@dataclass
class Batch:
    limits: BatchLimits
    started_at: float | None = None
    _items: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)  # id -> (item, dataset)
    _origins: dict[str, Any] = field(default_factory=dict)  # id -> the message it came from
    _next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    _messages: int = 0
    _bytes: int = 0

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        item: dict[str, Any],
        dataset: str,
        size: int,
        now: float,
        origin: Any = None,
    ) -> None:
        """Add a record to write. A later copy of the same id replaces the earlier one (Kafka keeps a
        key's messages in order, so the later copy is the newer version). ``origin`` (the consumed
        message) is kept for the dead letter, should DynamoDB refuse the item."""
        self._track(topic, partition, offset, now)
        record_id = str(item["id"])
        self._items[record_id] = (item, dataset)
        self._origins[record_id] = origin
        self._bytes += size

    def reject(self, record_id: str) -> Any:
        """The item was refused and dead-lettered: it is no longer written or counted (its offset is
        still committed with the batch). Returns its ``origin``."""
        self._items.pop(record_id, None)
        return self._origins.pop(record_id, None)

    def mark_done(self, topic: str, partition: int, offset: int, now: float) -> None:
        """A message handled without an item (sent to the dead-letter topic): commit it with the batch."""
        self._track(topic, partition, offset, now)

    def _track(self, topic: str, partition: int, offset: int, now: float) -> None:
        if self.started_at is None:
            self.started_at = now
        key = (topic, partition)
        self._next_offsets[key] = max(self._next_offsets.get(key, 0), offset + 1)
        self._messages += 1

    def __len__(self) -> int:
        return self._messages

    def ready(self, now: float) -> bool:
        if self._messages == 0:
            return False
        if self._messages >= self.limits.max_records or self._bytes >= self.limits.max_bytes:
            return True
        return self.started_at is not None and now - self.started_at >= self.limits.max_wait_s

    def items(self) -> list[dict[str, Any]]:
        return [item for item, _ in self._items.values()]

    def dataset_counts(self) -> Counter[str]:
        """Distinct records per dataset in this batch (what the training counters add)."""
        return Counter(dataset for _, dataset in self._items.values())

    def offsets_to_commit(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> the next offset to consume, for every partition in the batch."""
        return dict(self._next_offsets)

    def clear(self) -> None:
        self.started_at = None
        self._items.clear()
        self._origins.clear()
        self._next_offsets.clear()
        self._messages = 0
        self._bytes = 0
