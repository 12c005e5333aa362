"""Checkpoints advance only at delivery barriers that no failure crossed."""

from __future__ import annotations

import pytest

from services.collector.core.checkpoint import DeliveryFailed, OffsetTracker


def test_a_barrier_checkpoints_the_newest_position_of_every_partition() -> None:
    tracker = OffsetTracker({"other": 1})
    for position in (("a", 1), ("b", 5), ("a", 2)):
        tracker.note(position)
    assert tracker.committed == {"other": 1}  # nothing is safe before the barrier
    assert tracker.barrier_passed() == {"other": 1, "a": 2, "b": 5}
    assert tracker.barrier_passed() is None  # nothing new since


def test_a_failure_blocks_the_checkpoint_until_the_source_rewinds() -> None:
    tracker = OffsetTracker()
    tracker.note(("p", 1))
    tracker.barrier_passed()
    tracker.note(("p", 2))
    tracker.failed("Broker: Message size too large")
    tracker.note(("p", 3))
    with pytest.raises(DeliveryFailed, match="too large"):
        tracker.barrier_passed()
    assert tracker.committed == {"p": 1}
    assert tracker.rewind() == {"p": 1}
    assert tracker.failure is None and tracker.sent == {}
    tracker.note(("p", 2))
    assert tracker.barrier_passed() == {"p": 2}
