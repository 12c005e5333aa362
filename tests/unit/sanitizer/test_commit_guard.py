"""``guard_uncommitted_heads``: Faust's commit bookkeeping must never move past an event that was not
processed (found by tests/reliability/test_sanitizer_churn.py: records lost when two workers started
together). Checked on Faust's own ``Consumer._new_offset`` and a stand-in for its seek."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, NamedTuple

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from intervaltree import IntervalTree  # type: ignore[import-untyped]  # a dependency of Faust

from services.sanitizer.adapters.faust_app import guard_uncommitted_heads


class TP(NamedTuple):
    topic: str
    partition: int


RAW = TP("raw.tickets", 0)


class Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return not topic.endswith("-changelog")


class App:
    topics = Topics()


def consumer_class() -> type:
    """Faust's commit arithmetic (``_new_offset``, unpatched) on a class of our own, with a seek that
    behaves as Faust 0.15.3's: committed offsets only for the partitions that have one."""

    class StandIn:
        _new_offset = FaustConsumer._new_offset

        def __init__(self, committed: dict[TP, int], earliest: dict[TP, int]) -> None:
            self.app = App()
            self._acked: defaultdict[TP, list[int]] = defaultdict(list)
            self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
            self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
            self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
            self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
            self._broker_committed, self._earliest = committed, earliest
            self.sought: dict[TP, int] = {}

        def assignment(self) -> set[TP]:
            return {RAW, TP("first-ids-changelog", 0)}

        async def perform_seek(self) -> None:
            self._committed_offset.update({tp: o or None for tp, o in self._broker_committed.items()})

        async def earliest_offsets(self, *partitions: TP) -> dict[TP, int]:
            return {tp: self._earliest[tp] for tp in partitions}

        async def seek_wait(self, partitions: dict[TP, int]) -> None:
            self.sought.update(partitions)

    return StandIn


def test_unguarded_faust_commits_past_events_it_never_processed() -> None:
    # The bug, on Faust's own arithmetic: nothing committed yet, events 0-5 dropped, 6-9 processed.
    consumer: Any = consumer_class()({}, {RAW: 0})
    asyncio.run(consumer.perform_seek())
    consumer._acked[RAW] = [6, 7, 8, 9]
    assert consumer._new_offset(RAW) == 10  # 0-5 would never be read again


@pytest.fixture
def guarded() -> type:
    cls = consumer_class()
    guard_uncommitted_heads(cls)
    guard_uncommitted_heads(cls)  # once only: a second call must not wrap the wrapper
    return cls


def test_a_partition_without_a_commit_is_read_from_its_start_and_not_committed_past_a_hole(
    guarded: type,
) -> None:
    consumer: Any = guarded({}, {RAW: 0, TP("first-ids-changelog", 0): 0})
    asyncio.run(consumer.perform_seek())
    assert consumer.sought == {RAW: 0}  # the changelog is the table's business, not ours
    assert consumer._committed_offset[RAW] == 0
    consumer._acked[RAW] = [6, 7, 8, 9]
    assert consumer._new_offset(RAW) is None  # held until 0-5 are processed
    consumer._acked[RAW] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert consumer._new_offset(RAW) == 10


def test_a_one_offset_hole_after_a_commit_holds_the_commit(guarded: type) -> None:
    consumer: Any = guarded({RAW: 31}, {RAW: 0})
    asyncio.run(consumer.perform_seek())
    assert consumer.sought == {}  # it has a commit: Faust's own seek is right
    consumer._acked[RAW] = [32, 33]
    assert consumer._new_offset(RAW) is None  # Faust alone would commit 34 and lose 31
    consumer._acked[RAW] = [31, 32, 33]
    assert consumer._new_offset(RAW) == 34


def test_a_recorded_gap_at_the_head_still_commits(guarded: type) -> None:
    # Offsets Faust knows are absent (compaction, transaction markers) count as processed.
    consumer: Any = guarded({RAW: 31}, {RAW: 0})
    asyncio.run(consumer.perform_seek())
    consumer._gap[RAW].addi(31, 33)
    consumer._acked[RAW] = [33, 34]
    assert consumer._new_offset(RAW) == 35
