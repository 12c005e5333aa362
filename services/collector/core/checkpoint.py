"""Which position is safe to checkpoint: the one the last completed delivery barrier covered.

Records are sent without waiting. Now and then (every ``checkpoint_interval_s``, and at the end of a
pass) the runner raises a barrier: it notes the positions sent so far, waits until the producer holds
nothing more (every record before the barrier answered by the broker), and, if none of them failed,
checkpoints those positions. Kafka Connect's source tasks commit offsets the same way. A crash then
re-sends at most what was sent since the last barrier (stable ids make those duplicates harmless
downstream) and never skips a record; a failure rewinds the source to the last checkpoint.
"""

from __future__ import annotations

from services.collector.core.items import Checkpoint, Position


class DeliveryFailed(Exception):
    """The broker refused a record for good; the source must rewind to the last checkpoint."""


class OffsetTracker:
    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self._committed: Checkpoint = dict(checkpoint or {})
        # Positions sent since the last barrier: the newest offset per partition. The runner writes
        # this dict directly on its hot path (one store per record).
        self.sent: Checkpoint = {}
        self.failure: str | None = None

    def note(self, position: Position) -> None:
        self.sent[position[0]] = position[1]

    def failed(self, reason: str) -> None:
        """A record was not delivered: nothing sent since the last barrier may be checkpointed."""
        if self.failure is None:
            self.failure = reason

    def barrier_passed(self) -> Checkpoint | None:
        """Everything sent so far has been answered: the new checkpoint, or None if nothing moved.

        Raises ``DeliveryFailed`` when a record since the last barrier failed."""
        if self.failure is not None:
            raise DeliveryFailed(f"Kafka did not take a record: {self.failure}")
        if not self.sent:
            return None
        self._committed.update(self.sent)
        self.sent = {}
        return dict(self._committed)

    @property
    def committed(self) -> Checkpoint:
        return dict(self._committed)

    def rewind(self) -> Checkpoint:
        """Forget what was sent since the last barrier (after a failure): where to resume from."""
        self.sent = {}
        self.failure = None
        return dict(self._committed)
