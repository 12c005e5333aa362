"""Exact deduplication: the first record with a given content hash wins.

``seen`` maps content hash -> id of the first record. In the stream it is a Faust table (changelog-
backed, rocksdict on disk in production) on a topic keyed by the hash, so one partition's table sees
every copy; offline it is a dict. A record whose id *is* the first id is a redelivery of the first
copy (at-least-once): it goes through again, and the sinks, keyed by id, store it once.

Checking and remembering are separate: the dedup steps only *check* (a cheap early exit before
anonymization), and ``DedupRecorder`` *remembers* a record once it is known to go out (anonymized,
routed, its output record built). Otherwise a first copy that is then dead-lettered (a failing
recognizer, no dataset) would make every later copy a "duplicate" of a record that never went out.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Protocol

from services.sanitizer.core.pipeline import Dropped, Outcome, Work


class Deduplicator(Protocol):
    name: str

    def process(self, work: Work) -> Outcome:
        """Check only: ``Dropped`` when the record copies one already remembered."""
        ...

    def remember(self, work: Work) -> None:
        """Record ``work`` as gone out: later copies of it are duplicates."""
        ...


class ExactDeduplicator:
    name = "exact_dedup"

    def __init__(self, seen: MutableMapping[str, str]) -> None:
        self.seen = seen

    def process(self, work: Work) -> Outcome:
        first = self.seen.get(work.content_hash)
        if first is None or first == work.record.id:
            return work
        return Dropped(work.record, "duplicate", f"same content as record {first}")

    def remember(self, work: Work) -> None:
        if work.content_hash not in self.seen:
            self.seen[work.content_hash] = work.record.id


class DedupRecorder:
    """The last step before a record goes out: checks again (an earlier record of the same batch may
    have been remembered since the first check) and remembers the record in every deduplicator."""

    name = "dedup_record"

    def __init__(self, deduplicators: Sequence[Deduplicator]) -> None:
        self.deduplicators = list(deduplicators)

    def process(self, work: Work) -> Outcome:
        for dedup in self.deduplicators:
            outcome = dedup.process(work)
            if isinstance(outcome, Dropped):
                return outcome
        for dedup in self.deduplicators:
            dedup.remember(work)
        return work
