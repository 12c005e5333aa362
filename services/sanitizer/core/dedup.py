"""Exact deduplication: the first record with a given content hash wins.

``seen`` maps content hash -> id of the first record. In the stream it is a Faust table (changelog-
backed, rocksdict on disk in production) on a topic keyed by the hash, so one partition's table sees
every copy; offline it is a dict. A record whose id *is* the first id is a redelivery of the first
copy (at-least-once): it goes through again, and the sinks, keyed by id, store it once.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from services.sanitizer.core.pipeline import Dropped, Outcome, Work


class ExactDeduplicator:
    name = "exact_dedup"

    def __init__(self, seen: MutableMapping[str, str]) -> None:
        self.seen = seen

    def process(self, work: Work) -> Outcome:
        first = self.seen.get(work.content_hash)
        if first is None:
            self.seen[work.content_hash] = work.record.id
            return work
        if first == work.record.id:
            return work
        return Dropped(work.record, "duplicate", f"same content as record {first}")
