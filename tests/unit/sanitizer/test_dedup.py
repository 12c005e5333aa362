from __future__ import annotations

from collections.abc import Callable

import pytest

from libs.schemas import RawRecord
from services.sanitizer.core.dedup import DedupRecorder, ExactDeduplicator
from services.sanitizer.core.minhash import (
    LshIndex,
    MinHasher,
    NearDeduplicator,
    jaccard_estimate,
    optimal_bands,
)
from services.sanitizer.core.pipeline import Dropped, Work
from services.sanitizer.core.policy import NearDedupPolicy

LONG = (
    "the payment service returned an error after the deploy of version two and the customer was charged "
    "twice for the same order so we opened a ticket with the billing team and asked for a refund today"
)


def _work(make_record: Callable[..., RawRecord], content: str, **kw: object) -> Work:
    work = Work.of(make_record(content, **kw))
    work.content_hash = "h:" + content
    return work


def test_first_copy_wins_and_redelivery_passes(make_record: Callable[..., RawRecord]) -> None:
    seen: dict[str, str] = {}
    step = ExactDeduplicator(seen)
    first = _work(make_record, "same text", id="a")
    assert step.process(first) is first
    step.remember(first)
    dup = step.process(_work(make_record, "same text", id="b"))
    assert isinstance(dup, Dropped) and dup.reason == "duplicate" and "a" in dup.detail
    # at-least-once: the first record delivered again is not its own duplicate
    assert isinstance(step.process(_work(make_record, "same text", id="a")), Work)
    assert seen == {"h:same text": "a"}


def test_checking_remembers_nothing(make_record: Callable[..., RawRecord]) -> None:
    """A record is remembered only once it goes out: a first copy that is checked and then fails
    (dead-lettered further on) does not make the next copy a duplicate."""
    seen: dict[str, str] = {}
    exact, near = ExactDeduplicator(seen), NearDeduplicator(NearDedupPolicy(threshold=0.8))
    for step in (exact, near):
        assert isinstance(step.process(_work(make_record, LONG, id="failed")), Work)
    assert seen == {} and len(near.index) == 0
    for step in (exact, near):
        assert isinstance(step.process(_work(make_record, LONG, id="second")), Work)


def test_recorder_rechecks_then_remembers(make_record: Callable[..., RawRecord]) -> None:
    seen: dict[str, str] = {}
    exact, near = ExactDeduplicator(seen), NearDeduplicator(NearDedupPolicy(threshold=0.8))
    recorder = DedupRecorder([exact, near])
    # two copies of one batch both pass the early checks; the recorder lets only the first out
    a, b = _work(make_record, LONG, id="a"), _work(make_record, LONG, id="b")
    c = _work(make_record, LONG + " Thanks again.", id="c")
    c.content_hash = "h:other"
    for work in (a, b, c):
        assert isinstance(exact.process(work), Work) and isinstance(near.process(work), Work)
    a.content = "anonymized text that the near dedup must not use for its signature"
    assert recorder.process(a) is a
    dup = recorder.process(b)
    assert isinstance(dup, Dropped) and dup.reason == "duplicate"
    near_dup = recorder.process(c)
    assert isinstance(near_dup, Dropped) and near_dup.reason == "near_duplicate" and "a" in near_dup.detail
    assert seen == {"h:" + LONG: "a"} and len(near.index) == 1


def test_optimal_bands_fit_the_threshold() -> None:
    bands, rows = optimal_bands(0.85, 128)
    assert bands * rows <= 128
    assert 0.75 < (1 / bands) ** (1 / rows) < 0.95


def test_minhash_estimates_jaccard() -> None:
    hasher = MinHasher(num_perm=256, shingle_words=3)
    a, b = hasher.signature(LONG), hasher.signature(LONG + " thanks")
    unrelated = hasher.signature("completely different words about kafka partitions and consumer lag metrics")
    assert jaccard_estimate(a, a) == 1.0
    assert jaccard_estimate(a, b) > 0.85
    assert jaccard_estimate(a, unrelated) < 0.2


def _checked_and_remembered(step: NearDeduplicator, work: Work) -> object:
    outcome = step.process(work)
    if isinstance(outcome, Work):
        step.remember(outcome)
    return outcome


def test_near_duplicate_dropped_or_marked(make_record: Callable[..., RawRecord]) -> None:
    drop = NearDeduplicator(NearDedupPolicy(threshold=0.8))
    assert isinstance(_checked_and_remembered(drop, _work(make_record, LONG, id="first")), Work)
    out = drop.process(_work(make_record, LONG + " Thanks again.", id="second"))
    assert isinstance(out, Dropped) and out.reason == "near_duplicate" and "first" in out.detail
    assert isinstance(drop.process(_work(make_record, "a different text " * 5, id="third")), Work)

    mark = NearDeduplicator(NearDedupPolicy(threshold=0.8, action="mark"))
    _checked_and_remembered(mark, _work(make_record, LONG, id="first"))
    marked = _checked_and_remembered(mark, _work(make_record, LONG + " Thanks again.", id="second"))
    assert isinstance(marked, Work) and marked.metadata["near_duplicate_of"] == "first"
    assert len(mark.index) == 1  # a marked copy is not indexed itself


def test_same_record_again_is_not_a_near_duplicate(make_record: Callable[..., RawRecord]) -> None:
    step = NearDeduplicator(NearDedupPolicy())
    _checked_and_remembered(step, _work(make_record, LONG, id="x"))
    assert isinstance(step.process(_work(make_record, LONG, id="x")), Work)


def test_texts_under_min_words_skip_near_dedup(make_record: Callable[..., RawRecord]) -> None:
    """Two near-identical texts of many shingles: a near duplicate, unless ``min_words`` is above
    their word count."""
    words = len(LONG.split())
    copy = LONG + " Thanks again."
    checked = NearDeduplicator(NearDedupPolicy(threshold=0.8, min_words=words))
    _checked_and_remembered(checked, _work(make_record, LONG, id="a"))
    assert isinstance(checked.process(_work(make_record, copy, id="b")), Dropped)  # the control

    skipped = NearDeduplicator(NearDedupPolicy(threshold=0.8, min_words=words + 3))
    _checked_and_remembered(skipped, _work(make_record, LONG, id="a"))
    assert isinstance(skipped.process(_work(make_record, copy, id="b")), Work)
    assert len(skipped.index) == 0


@pytest.mark.parametrize("max_entries", [1, 3])
def test_index_memory_is_bounded(max_entries: int) -> None:
    hasher = MinHasher()
    index = LshIndex(128, 0.85, max_entries)
    for i in range(10):
        index.insert(str(i), hasher.signature(f"text number {i} " + LONG[i:]))
    assert len(index) == max_entries
    assert index.query(hasher.signature("text number 0 " + LONG)) is None  # evicted
