"""Checkpoints advance only over a prefix of acknowledged items."""

from __future__ import annotations

from services.collector.core.checkpoint import PositionTracker


def test_out_of_order_acks_advance_only_over_the_acknowledged_prefix() -> None:
    tracker = PositionTracker({"other": 1})
    seqs = [tracker.sent(("f", offset)) for offset in (10, 20, 30)]
    tracker.acked(seqs[1])
    assert tracker.take_advance() is None  # the first is still in flight
    tracker.acked(seqs[0])
    assert tracker.take_advance() == {"other": 1, "f": 20}
    assert tracker.take_advance() is None
    tracker.acked(seqs[2])
    assert tracker.committed == {"other": 1, "f": 30} and tracker.in_flight == 0


def test_a_failed_item_blocks_the_checkpoint_until_the_source_rewinds() -> None:
    tracker = PositionTracker()
    a, b, c = (tracker.sent(("p", n)) for n in (1, 2, 3))
    tracker.acked(a)
    tracker.failed(b, "message too large")
    tracker.acked(c)
    assert tracker.committed == {"p": 1}
    assert tracker.failure == "message too large"
    assert tracker.rewind() == {"p": 1}
    assert tracker.failure is None and tracker.in_flight == 0
    tracker.acked(c)  # a late ack from before the rewind changes nothing
    assert tracker.committed == {"p": 1}


def test_positions_of_several_partitions_are_merged() -> None:
    tracker = PositionTracker()
    for position in (("a", 1), ("b", 5), ("a", 2)):
        tracker.acked(tracker.sent(position))
    assert tracker.committed == {"a": 2, "b": 5}
