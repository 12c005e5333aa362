"""Presidio's own recognizer test cases, run against tuneline's detector and vanilla Presidio side by side.

The cases (``cases.json`` next to this file, written by ``extract.py`` from Presidio's
``presidio-analyzer/tests/test_*_recognizer.py``) are a suite nobody here wrote. Only the entity types
tuneline claims are scored (``ENTITY_MAP``). Each distinct (text, type) is one unit; where Presidio tests
the same text twice with different recognizer settings (phone leniency), the unit expects the union of
their spans.

- **Recall** per type: an expected span is found when a detection of the right (mapped) type overlaps
  it with intersection-over-union >= 0.5 (so ``Mr. Mayers`` found for an expected ``Mayers`` counts,
  a detection twice as long as the value does not). Cases that give only a count are found up to that
  count by detections of the right type anywhere in the text. Expectations Presidio itself scores as a
  weak guess (an expected score range whose upper bound is below 0.5, e.g. a bare ``078051121`` as a
  US SSN) are reported apart and kept out of the target: tuneline leaves bare digit runs alone on purpose
  (they are order numbers as often as not).
  Expected addresses the shipped policy keeps on purpose (``detect.keep_ips``: ``127.0.0.1``, ``::1``,
  ``0.0.0.0/0``..., no one's address) are reported apart as well, with vanilla's count.
- **False-positive rate**: the share of units with at least one detection, of any type the tool reports
  (everything it reports is replaced), that overlaps no expected span.
- **Relabelled invalid values**: units that expect nothing (an invalid IBAN, SSN, card...) where a
  detection of another type is made (an invalid IBAN replaced as a phone number). Negative cases whose
  text holds a genuine value of another type (``NOT_INVALID_VALUES``, each with its reason, checked by
  hand) count for the FP rate only.

Targets: recall per claimed type >= vanilla Presidio's, FP rate below vanilla's, zero relabelled
invalid values. Exits 1 when one is missed.

    .venv/bin/python -m benchmarks.presidio_suite.score
    .venv/bin/python -m benchmarks.presidio_suite.score --show 40   # misses, FPs and relabels
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import Row, record
from benchmarks.sanitizer_common import DEFAULT_MODEL, VanillaPresidio, pin_one_core, say
from libs.pii import entities as E
from libs.pii.detect import Detector
from libs.pii.entities import Span

CASES = Path(__file__).with_name("cases.json")
POLICY = Path(__file__).resolve().parents[2] / "config" / "sanitizer.yaml"
MIN_IOU = 0.5
WEAK_SCORE = 0.5

# Presidio entity -> tuneline entity, for the types tuneline claims (libs/pii/entities.py).
ENTITY_MAP: dict[str, str] = {
    "EMAIL_ADDRESS": E.EMAIL,
    "PHONE_NUMBER": E.PHONE,
    "TR_PHONE_NUMBER": E.PHONE,
    "PH_MOBILE_NUMBER": E.PHONE,
    "CREDIT_CARD": E.CREDIT_CARD,
    "IBAN_CODE": E.IBAN,
    "IP_ADDRESS": E.IP_ADDRESS,
    "US_SSN": E.US_SSN,
    "PERSON": E.PERSON,
}


# Negative cases that are prose with a real value of another type in them, not an invalid value.
NOT_INVALID_VALUES: dict[str, str] = {
    "Dalla's Pizza | 3843 Peartree Road, Bamblee, SD 20241 440-600-5124": (
        "an address line ending in a US phone number; Presidio's IBAN test only checks no IBAN is found"
    ),
}


def mapped(entity: str) -> str:
    return ENTITY_MAP.get(entity, entity)


@dataclass
class Unit:
    """One distinct (text, tuneline type) with what Presidio's tests expect of it."""

    text: str
    entity: str
    spans: set[tuple[int, int]] = field(default_factory=set)
    weak: set[tuple[int, int]] = field(default_factory=set)
    kept: set[tuple[int, int]] = field(default_factory=set)  # values the shipped policy keeps (keep_ips)
    count_only: int = 0  # expected detections whose positions the test does not give
    ids: list[str] = field(default_factory=list)

    @property
    def negative(self) -> bool:
        return not self.spans and not self.weak and not self.kept and not self.count_only


def clusters(spans: set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Overlapping expected spans are alternatives (one test expects ``May``, another ``Mr. May`` in the
    same text): each group of them is one value, found when any of them is."""
    groups: list[list[tuple[int, int]]] = []
    for span in sorted(spans):
        if groups and span[0] < max(e for _, e in groups[-1]):
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def load_units(path: Path = CASES, keep: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[Unit]]:
    document = json.loads(path.read_text())
    units: dict[tuple[str, str], Unit] = {}
    for case in document["cases"]:
        if case["entity"] not in ENTITY_MAP:
            continue
        entity = mapped(case["entity"])
        unit = units.setdefault((case["text"], entity), Unit(case["text"], entity))
        unit.ids.append(case["id"])
        ranges = case.get("score_ranges") or []
        if case["spans"] is None:
            unit.count_only = max(unit.count_only, case["expected_len"])
            continue
        for i, (start, end) in enumerate(case["spans"]):
            high = ranges[i][1] if i < len(ranges) else None
            weak = isinstance(high, int | float) and high < WEAK_SCORE
            kept = entity == E.IP_ADDRESS and case["text"][start:end].split("/")[0] in keep
            (unit.kept if kept else unit.weak if weak else unit.spans).add((start, end))
    for unit in units.values():
        unit.weak -= unit.spans | unit.kept
        unit.kept -= unit.spans
    return document, list(units.values())


def iou(a: tuple[int, int], b: Span) -> float:
    inter = min(a[1], b.end) - max(a[0], b.start)
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b.end) - min(a[0], b.start))


@dataclass
class Result:
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    weak_expected: Counter[str] = field(default_factory=Counter)
    weak_found: Counter[str] = field(default_factory=Counter)
    kept_expected: Counter[str] = field(default_factory=Counter)
    kept_found: Counter[str] = field(default_factory=Counter)
    units: int = 0
    units_with_fp: int = 0
    fp_detections: int = 0
    negatives: int = 0
    relabelled: int = 0
    notes: list[str] = field(default_factory=list)

    def recall(self, entity: str) -> float:
        n = self.expected[entity]
        return self.found[entity] / n if n else float("nan")

    @property
    def fp_rate(self) -> float:
        return self.units_with_fp / self.units if self.units else float("nan")


def score(units: Sequence[Unit], detections: Sequence[Sequence[Span]]) -> Result:
    result = Result()
    for unit, found in zip(units, detections, strict=True):
        result.units += 1
        right = [d for d in found if mapped(d.entity) == unit.entity]
        for bucket, expected, hits, label in (
            (unit.spans, result.expected, result.found, "MISS"),
            (unit.weak, result.weak_expected, result.weak_found, "MISS (weak)"),
            (unit.kept, result.kept_expected, result.kept_found, "KEPT by policy"),
        ):
            for group in clusters(bucket):
                expected[unit.entity] += 1
                if any(iou(span, d) >= MIN_IOU for span in group for d in right):
                    hits[unit.entity] += 1
                else:
                    values = " or ".join(repr(unit.text[s:e]) for s, e in group)
                    result.notes.append(f"{label} {unit.entity:<11} {unit.text!r} expected {values}")
        if unit.count_only:
            result.expected[unit.entity] += unit.count_only
            result.found[unit.entity] += min(unit.count_only, len(right))
            if len(right) < unit.count_only:
                result.notes.append(
                    f"MISS {unit.entity:<11} {unit.text!r} expected {unit.count_only} found {len(right)}"
                )
        expected_spans = unit.spans | unit.weak | unit.kept
        outside = [d for d in found if not any(min(e, d.end) > max(s, d.start) for s, e in expected_spans)]
        if unit.count_only:
            outside = [d for d in outside if mapped(d.entity) != unit.entity][: max(0, len(outside))]
        if outside:
            result.units_with_fp += 1
            result.fp_detections += len(outside)
            for d in outside:
                result.notes.append(
                    f"FP   {mapped(d.entity):<11} {unit.text[d.start : d.end]!r} in {unit.text!r} "
                    f"(a {unit.entity} case)"
                )
        if unit.negative and unit.text not in NOT_INVALID_VALUES:
            result.negatives += 1
            other = [d for d in found if mapped(d.entity) != unit.entity]
            if other:
                result.relabelled += 1
                labels = sorted({mapped(d.entity) for d in other})
                result.notes.append(f"RELABEL invalid {unit.entity} {unit.text!r} as {labels}")
    return result


def tuneline_detector(model: str | None) -> Detector:
    """The detector ``tuneline sanitize`` builds: the shipped policy, its NER model."""
    from services.sanitizer.build import load_ner
    from services.sanitizer.core.policy import load_policy

    policy = load_policy(POLICY)
    say(f"tuneline: the detector of `tuneline sanitize` with {POLICY.relative_to(POLICY.parents[1])}")
    if model is not None:
        policy = policy.model_copy(update={"names": policy.names.model_copy(update={"model": model})})
    return Detector(policy, load_ner(policy))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument(
        "--model", default=None, help=f"NER model (default: the policy's; vanilla {DEFAULT_MODEL})"
    )
    parser.add_argument("--show", type=int, default=0, help="print up to N misses, FPs and relabels per tool")
    args = parser.parse_args(argv)
    cpu = pin_one_core()
    detector = tuneline_detector(args.model)
    keep = frozenset(detector.patterns.keep_ips)
    document, units = load_units(args.cases, keep)
    source = document["source"]
    say(
        f"Presidio recognizer suite: {len(document['cases'])} cases extracted from {source['repository']} "
        f"@ {source['commit'][:12]}; {len(units)} distinct (text, type) units of claimed types; cpu {cpu}"
    )
    texts = [u.text for u in units]
    started = time.perf_counter()
    ours = score(units, detector.detect_batch(texts))
    ours_s = time.perf_counter() - started
    vanilla = VanillaPresidio(args.model or DEFAULT_MODEL)
    started = time.perf_counter()
    theirs = score(units, [vanilla.spans(t) for t in texts])
    theirs_s = time.perf_counter() - started

    ok = True
    say(
        f"\n{'type':<12}{'values':>6}{'tuneline':>10}{'presidio':>10}  target     "
        f"| weak: {'n':>3}{'tuneline':>9}{'presidio':>9} | kept by policy: {'n':>3}{'presidio':>9}"
    )
    types = sorted(set(ENTITY_MAP.values()))
    for entity in types:
        if not ours.expected[entity]:
            continue
        mine, base = ours.recall(entity), theirs.recall(entity)
        met = mine >= base
        ok &= met
        weak_n = ours.weak_expected[entity]
        weak = f"{weak_n:>3}{ours.weak_found[entity]:>9}{theirs.weak_found[entity]:>9}" if weak_n else ""
        kept_n = ours.kept_expected[entity]
        kept = f"{kept_n:>3}{theirs.kept_found[entity]:>9}" if kept_n else ""
        say(
            f"{entity:<12}{ours.expected[entity]:>6}{mine:>10.3f}{base:>10.3f}  >= {base:.3f}"
            f"{'' if met else ' MISS':<5}| {'':>5}{weak:<21} | {'':>16}{kept}"
        )
    total_expected = sum(ours.expected.values())
    say(
        f"{'all':<12}{total_expected:>6}{sum(ours.found.values()) / total_expected:>10.3f}"
        f"{sum(theirs.found.values()) / total_expected:>10.3f}"
    )
    fp_met = ours.fp_rate < theirs.fp_rate
    relabel_met = ours.relabelled == 0
    ok &= fp_met and relabel_met
    say(
        f"\nFP rate (units with a detection outside the expected spans): tuneline {ours.fp_rate:.3f} "
        f"({ours.units_with_fp}/{ours.units}, {ours.fp_detections} detections)  "
        f"presidio {theirs.fp_rate:.3f} "
        f"({theirs.units_with_fp}/{theirs.units}, {theirs.fp_detections} detections)  target < presidio"
        f"{'' if fp_met else '  MISS'}"
    )
    say(
        f"invalid values relabelled as another type: tuneline {ours.relabelled}/{ours.negatives}  "
        f"presidio {theirs.relabelled}/{theirs.negatives}  target 0{'' if relabel_met else '  MISS'}"
    )
    say(f"time: tuneline {len(units) / ours_s:.0f} texts/s, presidio {len(units) / theirs_s:.1f} texts/s")
    for label, res in (("tuneline", ours), ("presidio", theirs)):
        if args.show:
            say(f"\n{label}:")
            for note in res.notes[: args.show]:
                say("  " + note)
    say("\nALL TARGETS MET" if ok else "\nSOME TARGETS MISSED")
    baseline = f"vanilla Presidio, {len(units)} Presidio test texts"
    record(
        *(
            Row("presidio-suite", f"recall, {entity}", ours.recall(entity), "", theirs.recall(entity),
                baseline, min_value=theirs.recall(entity))
            for entity in types if ours.expected[entity]
        ),
        Row("presidio-suite", "units without a false positive", 1 - ours.fp_rate, "", 1 - theirs.fp_rate,
            baseline, min_value=1 - theirs.fp_rate, note="FP rate must be below vanilla's"),
        Row("presidio-suite", "invalid values not relabelled",
            1 - ours.relabelled / max(ours.negatives, 1), "",
            1 - theirs.relabelled / max(theirs.negatives, 1), baseline, min_value=1.0,
            note=f"{ours.relabelled}/{ours.negatives} relabelled"),
    )  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
