from __future__ import annotations

import random

from libs.common.backoff import Backoff
from services.writer.core.batch import Batch, BatchLimits


def item(record_id: str, version: int = 1) -> dict[str, object]:
    return {"id": record_id, "v": version}


def test_batch_is_ready_by_count_bytes_or_age() -> None:
    batch = Batch(BatchLimits(max_records=3, max_bytes=1000, max_wait_s=5.0))
    assert not batch.ready(now=0.0)
    batch.add("t", 0, 10, item("a"), "ds", 10, now=100.0)
    assert not batch.ready(now=101.0)
    assert batch.ready(now=105.0)  # age
    batch.add("t", 0, 11, item("b"), "ds", 995, now=101.0)
    assert batch.ready(now=101.0)  # bytes
    batch.clear()
    for offset in range(3):
        batch.add("t", 0, offset, item(f"r{offset}"), "ds", 1, now=0.0)
    assert batch.ready(now=0.0)  # count


def test_offsets_to_commit_are_next_offsets_per_partition_including_dead_letters() -> None:
    batch = Batch(BatchLimits())
    batch.add("t", 0, 5, item("a"), "ds", 1, now=0)
    batch.add("t", 1, 9, item("b"), "ds", 1, now=0)
    batch.mark_done("t", 0, 6, now=0)  # went to the DLQ
    batch.add("u", 0, 0, item("c"), "ds", 1, now=0)
    assert batch.offsets_to_commit() == {("t", 0): 7, ("t", 1): 10, ("u", 0): 1}
    assert len(batch) == 4


def test_a_replayed_id_is_written_once_with_its_latest_version() -> None:
    batch = Batch(BatchLimits())
    batch.add("t", 0, 1, item("a", 1), "support", 1, now=0)
    batch.add("t", 0, 2, item("b", 1), "billing", 1, now=0)
    batch.add("t", 0, 3, item("a", 2), "support", 1, now=0)
    assert sorted(batch.items(), key=lambda i: str(i["id"])) == [item("a", 2), item("b", 1)]
    assert batch.dataset_counts() == {"support": 1, "billing": 1}


def test_clear_forgets_everything() -> None:
    batch = Batch(BatchLimits())
    batch.add("t", 0, 1, item("a"), "ds", 1, now=0)
    batch.clear()
    assert len(batch) == 0 and batch.items() == [] and batch.offsets_to_commit() == {}


def test_backoff_is_capped_and_jittered() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(12)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert max(delays[:2]) <= 0.2
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder


def test_a_refused_item_is_neither_written_nor_counted_but_its_offset_commits() -> None:
    batch = Batch(BatchLimits())
    batch.add("t", 0, 1, item("a"), "support", 1, now=0, origin="message-a")
    batch.add("t", 0, 2, item("b"), "support", 1, now=0, origin="message-b")
    assert batch.reject("b") == "message-b"
    assert batch.items() == [item("a")] and batch.dataset_counts() == {"support": 1}
    assert batch.offsets_to_commit() == {("t", 0): 3} and len(batch) == 2
