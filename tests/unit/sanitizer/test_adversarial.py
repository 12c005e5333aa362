"""Adversarial content cannot stall a partition: the stream runs the pipeline on Faust's event loop
and content up to ``normalize.max_chars`` (200,000 characters) is accepted, so every recognizer and
the overlap resolution must stay (near) linear in the text's length.

Speed targets live in the benchmarks; each input here has one generous sanity bound (a quadratic
recognizer took 3 to 25 seconds on these inputs), and the checks that matter are structural: the
findings are the ones expected, and overlap resolution does not compare every pair of findings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from libs.pii import entities as E
from libs.pii.detect import Detector, resolve
from libs.pii.entities import Span
from libs.pii.names import NameFinder
from libs.schemas import RawRecord
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.pipeline import Dropped
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import KEYS, FakeNer

SIZE = 200_000  # the default normalize.max_chars
SANITY_SECONDS = 10.0  # the quadratic versions took 10 to 130 s on these inputs


def repeat(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


ANY = "any"  # findings not checked (digit runs are phone and card look-alikes)
# (name, unit repeated to SIZE characters, the one entity found once per unit, None or ANY)
ADVERSARIAL = [
    ("jwt_prefixes", "eyJ-", None),  # a JWT-looking start after every "-"
    ("emails", "a@b.co ", E.EMAIL),
    ("names_and_emails", "Ab a@b.co ", E.EMAIL),
    ("ssns", "123-45-6789 ", E.US_SSN),
    ("ipv4s", "203.0.113.9 ", E.IP_ADDRESS),
    ("password_pairs", "password=Xy7pQ2 ", E.PASSWORD),
    ("secret_pairs", "token=Xy7pQ2 ", E.SECRET),
    ("generic_secrets", "Zx8qL2mN7pR4tV6wY9aB3cD5 ", E.SECRET),
    ("name_pairs", "Ab Cd. ", E.PERSON),
    ("single_names", "Zed. ", E.PERSON),  # one NER window, thousands of PERSON entities in it
    ("digit_groups", "1234 5678 ", ANY),
    ("colons", "a:b::", None),
    ("private_key_starts", "-----BEGIN ", None),
    ("url_schemes", "a-b://", None),
    ("bearer_words", "Bearer ", None),
]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(SanitizerPolicy(), ner=FakeNer(["Zed"]))


def timed(work: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


@pytest.mark.parametrize(("name", "unit", "entity"), ADVERSARIAL, ids=[a[0] for a in ADVERSARIAL])
def test_detector_handles_adversarial_input(
    detector: Detector, name: str, unit: str, entity: str | None
) -> None:
    text = repeat(unit)
    spans, seconds = timed(lambda: detector.detect(text))
    assert isinstance(spans, list)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))  # resolved, sorted
    if entity is None:
        assert spans == []
    elif entity != ANY:
        # one finding per complete unit (the last unit may be cut short)
        assert {s.entity for s in spans} == {entity}
        assert SIZE // len(unit) - 1 <= len(spans) <= SIZE // len(unit) + 1
    assert seconds < SANITY_SECONDS, f"{name}: {seconds:.1f}s for {SIZE} characters"


@pytest.mark.parametrize("unit", ["a@b.co ", "Ab a@b.co ", "123-45-6789 "])
def test_pipeline_anonymizes_a_record_full_of_values(
    make_record: Callable[..., RawRecord], unit: str
) -> None:
    record = make_record(repeat(unit))
    sanitizer = build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer())
    started = time.perf_counter()
    (out,) = sanitizer.run([record])
    seconds = time.perf_counter() - started
    assert not isinstance(out, Dropped)
    assert unit.split()[-1] not in out.content
    assert seconds < 2 * SANITY_SECONDS, f"{seconds:.1f}s for {SIZE} characters"


def test_resolve_keeps_the_old_rule_on_overlaps() -> None:
    found = [
        (Span(0, 10, E.SECRET), 40),
        (Span(2, 5, E.EMAIL), 70),  # higher priority wins over the longer finding
        (Span(5, 9, E.PHONE), 55),
        (Span(6, 8, E.IP_ADDRESS), 55),  # same priority: the longer wins
        (Span(12, 14, E.US_SSN), 72),
    ]
    assert resolve(found) == [Span(2, 5, E.EMAIL), Span(5, 9, E.PHONE), Span(12, 14, E.US_SSN)]


def test_resolve_many_overlapping_findings() -> None:
    n = 50_000
    found = [(Span(i * 10, i * 10 + 8, E.EMAIL), 70) for i in range(n)]
    found += [(Span(i * 10 + 2, i * 10 + 12, E.PHONE), 55) for i in range(n)]  # each overlaps two
    kept, seconds = timed(lambda: resolve(found))
    assert kept == [span for span, _ in found[:n]]
    assert seconds < SANITY_SECONDS


def test_name_finder_skips_taken_spans_in_any_order() -> None:
    finder = NameFinder(None)
    text = "Anna Smith met Bob Jones and Carl"
    taken = [Span(15, 24, E.EMAIL), Span(0, 4, E.EMAIL), Span(1, 2, E.EMAIL)]  # unsorted, nested
    starts = [(c.start, c.end) for c in finder.candidates(text, taken)]
    assert starts == [(5, 10), (29, 33)]
