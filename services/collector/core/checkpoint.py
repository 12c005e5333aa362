"""Which position is safe to checkpoint: the one behind the longest acknowledged prefix.

The broker acknowledges records out of order (they go to different partitions), so positions are
tracked in the order the source emitted them and the checkpoint only advances over a prefix whose
every item has been acknowledged. A crash then re-sends at most the unacknowledged tail (stable ids
make those duplicates harmless downstream) and never skips a record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pydantic import JsonValue

from services.collector.core.items import Checkpoint, Position


class DeliveryFailed(Exception):
    """The broker refused an item for good; the source must rewind to the last checkpoint."""


@dataclass(slots=True)
class _InFlight:
    position: Position
    acked: bool = False


class PositionTracker:
    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self._committed: Checkpoint = dict(checkpoint or {})
        self._pending: deque[_InFlight] = deque()
        self._by_seq: dict[int, _InFlight] = {}
        self._next_seq = 0
        self._advanced = False
        self.failure: str | None = None

    def sent(self, position: Position) -> int:
        """Register an item handed to the producer; returns the sequence number its ack will carry."""
        seq = self._next_seq
        self._next_seq += 1
        entry = _InFlight(position)
        self._pending.append(entry)
        self._by_seq[seq] = entry
        return seq

    def acked(self, seq: int) -> None:
        entry = self._by_seq.pop(seq, None)
        if entry is None:
            return
        entry.acked = True
        while self._pending and self._pending[0].acked:
            partition, offset = self._pending.popleft().position
            self._committed[partition] = offset
            self._advanced = True

    def failed(self, seq: int, reason: str) -> None:
        """An item was not delivered: nothing after it may be checkpointed until the source rewinds."""
        self._by_seq.pop(seq, None)
        if self.failure is None:
            self.failure = reason

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def committed(self) -> Checkpoint:
        return dict(self._committed)

    def take_advance(self) -> Checkpoint | None:
        """The committed checkpoint if it moved since the last call, else None."""
        if not self._advanced:
            return None
        self._advanced = False
        return dict(self._committed)

    def rewind(self) -> Checkpoint:
        """Forget everything in flight (after a failure) and return the checkpoint to resume from."""
        self._pending.clear()
        self._by_seq.clear()
        self.failure = None
        return dict(self._committed)


def offset_of(checkpoint: Checkpoint, partition: str, default: JsonValue = None) -> JsonValue:
    return checkpoint.get(partition, default)
