"""Quality of the sanitizer against vanilla Presidio on the labelled set (benchmarks/sanitizer_data.py).

Per entity type: recall (a planted value counts as caught when the found spans cover every letter
and digit of it), with its 95% Wilson score interval. Non-PII kept: the share of the other tokens
(timestamps, versions, ticket and order numbers, hashes, ordinary words) that no span touches, also with
its interval. Dedup: exact copies removed, near copies caught, unique records wrongly dropped.
Leaks: planted values still present in tuneline's output.

    .venv/bin/python -m benchmarks.sanitizer_quality -n 1500 --vanilla-n 400
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.report import Row, record
from benchmarks.sanitizer_common import BENCH_KEYS, DEFAULT_MODEL, VanillaPresidio, pin_one_core, say
from benchmarks.sanitizer_data import Sample, generate
from libs.pii.detect import Detector
from libs.pii.entities import Span, category
from libs.pii.policy import NamesPolicy
from libs.pii.spacy_ner import SpacyNerTagger
from libs.schemas import RawRecord
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.normalize import normalize_text
from services.sanitizer.core.pipeline import Dropped
from services.sanitizer.core.policy import SanitizerPolicy

TARGETS = {"structured": 0.99, "secrets": 0.99, "names": 0.97, "non_pii_survival": 0.99}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound at 0 and n successes, unlike the normal
    approximation)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def interval(successes: int, n: int) -> str:
    low, high = wilson(successes, n)
    return f"[{low:.3f}, {high:.3f}]"


@dataclass
class Scores:
    planted: Counter[str]
    caught: Counter[str]
    tokens: int = 0
    survived: int = 0

    def recall(self, keys: Sequence[str]) -> float:
        total = sum(self.planted[k] for k in keys)
        return sum(self.caught[k] for k in keys) / total if total else float("nan")

    @property
    def survival(self) -> float:
        return self.survived / self.tokens if self.tokens else float("nan")


def score(samples: Sequence[Sample], found: Sequence[Sequence[Span]]) -> Scores:
    import re

    scores = Scores(Counter(), Counter())
    for sample, spans in zip(samples, found, strict=True):
        covered = bytearray(len(sample.text))
        for span in spans:
            covered[span.start : span.end] = b"\x01" * (span.end - span.start)
        planted_mask = bytearray(len(sample.text))
        for p in sample.planted:
            scores.planted[p.entity] += 1
            if all(covered[i] for i in range(p.start, p.end) if sample.text[i].isalnum()):
                scores.caught[p.entity] += 1
            planted_mask[p.start : p.end] = b"\x01" * (p.end - p.start)
        for m in re.finditer(r"\S+", sample.text):
            if any(planted_mask[m.start() : m.end()]):
                continue
            scores.tokens += 1
            if not any(covered[m.start() : m.end()]):
                scores.survived += 1
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1500, help="records generated (default 1500)")
    parser.add_argument(
        "--vanilla-n", type=int, default=400, help="unique records scored for vanilla Presidio"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--show-misses", type=int, default=0, help="print up to N missed values (debugging)")
    args = parser.parse_args()
    cpu = pin_one_core()

    samples = generate(args.n, args.seed)
    uniques = [s for s in samples if s.duplicate_of is None and s.near_of is None]
    if not all(normalize_text(s.text) == s.text.strip() for s in uniques):
        raise SystemExit("the generator must produce normalized text (spans are on it)")
    say(f"records: {len(samples)} ({len(uniques)} unique), seed {args.seed}, cpu {cpu}")

    policy = SanitizerPolicy(names=NamesPolicy(model=args.model))
    ner = SpacyNerTagger.load(args.model)
    detector = Detector(policy, ner)
    started = time.perf_counter()
    ours = score(uniques, detector.detect_batch([s.text for s in uniques]))
    ours_s = time.perf_counter() - started

    vanilla_samples = uniques[: args.vanilla_n]
    vanilla = VanillaPresidio(args.model)
    started = time.perf_counter()
    theirs = score(vanilla_samples, [vanilla.spans(s.text) for s in vanilla_samples])
    theirs_s = time.perf_counter() - started
    ours_same = score(vanilla_samples, detector.detect_batch([s.text for s in vanilla_samples]))

    by_cat: dict[str, list[str]] = defaultdict(list)
    for entity in sorted(ours.planted):
        by_cat[category(entity)].append(entity)

    say(
        f"\n{'entity':<18}{'planted':>8}{'tuneline':>10} {'95% CI':<16}{'target':>7}     "
        "| on the vanilla subset:"
        f"{'planted':>8}{'tuneline':>10}{'presidio':>10}"
    )
    ok = True
    for cat in ("structured", "secrets", "names"):
        for entity in by_cat[cat]:
            recall = ours.recall([entity])
            ok &= recall >= TARGETS[cat]  # every type on its own, not only the category's pool
            say(
                f"{entity:<18}{ours.planted[entity]:>8}{recall:>10.3f} "
                f"{interval(ours.caught[entity], ours.planted[entity]):<16}{TARGETS[cat]:>7}"
                f"{'' if recall >= TARGETS[cat] else ' MISS':<5}|"
                f"{'':>22}{theirs.planted[entity]:>8}{ours_same.recall([entity]):>10.3f}{theirs.recall([entity]):>10.3f}"
            )
    say()
    for cat in ("structured", "secrets", "names"):
        r = ours.recall(by_cat[cat])
        ok &= r >= TARGETS[cat]
        caught, planted = sum(ours.caught[k] for k in by_cat[cat]), sum(ours.planted[k] for k in by_cat[cat])
        say(
            f"recall {cat:<12} tuneline {r:.4f} {interval(caught, planted)} (target {TARGETS[cat]})   "
            "subset: tuneline "
            f"{ours_same.recall(by_cat[cat]):.4f}  presidio {theirs.recall(by_cat[cat]):.4f}"
        )
    ok &= ours.survival >= TARGETS["non_pii_survival"]
    say(
        f"non-PII kept        tuneline {ours.survival:.4f} {interval(ours.survived, ours.tokens)} of "
        f"{ours.tokens} tokens (target {TARGETS['non_pii_survival']})   subset: "
        f"tuneline {ours_same.survival:.4f}  presidio {theirs.survival:.4f} of {theirs.tokens}"
    )
    say(
        f"detection time      tuneline {len(uniques) / ours_s:.0f} records/s ({len(uniques)}), "
        f"presidio analyze {len(vanilla_samples) / theirs_s:.1f} records/s ({len(vanilla_samples)})"
    )

    # End to end through the pipeline: dedup accuracy and leaks in the output.
    sanitizer = build_sanitizer(policy, BENCH_KEYS, ner=ner)
    records = [RawRecord.model_validate(s.raw_record()) for s in samples]
    results = sanitizer.run(records)
    reasons = Counter(r.reason for r in results if isinstance(r, Dropped))
    dropped = {r.record.id: r.reason for r in results if isinstance(r, Dropped)}
    exact = [s for s in samples if s.duplicate_of]
    near = [s for s in samples if s.near_of]
    exact_removed = sum(dropped.get(s.id) == "duplicate" for s in exact)
    near_caught = sum(s.id in dropped for s in near)
    unique_dropped = [s for s in uniques if s.id in dropped]
    ok &= exact_removed == len(exact)
    say(
        f"\nexact duplicates removed {exact_removed}/{len(exact)}; "
        f"near duplicates caught {near_caught}/{len(near)}; "
        f"unique records dropped {len(unique_dropped)}/{len(uniques)} "
        f"{dict(Counter(dropped[s.id] for s in unique_dropped))}"
    )
    say(f"drops by reason: {dict(reasons)}")
    outputs = {r.id: r.content for r in results if not isinstance(r, Dropped)}
    leaks: Counter[str] = Counter()
    checked = 0
    for s in uniques:
        out = outputs.get(s.id)
        if out is None:
            continue
        for p in s.planted:
            checked += 1
            if s.text[p.start : p.end] in out:
                leaks[p.entity] += 1
    say(f"planted values still in tuneline's output: {sum(leaks.values())}/{checked} {dict(leaks)}")
    if args.show_misses:
        shown = 0
        for s, spans in zip(uniques, detector.detect_batch([s.text for s in uniques]), strict=True):
            covered: set[int] = set()
            for sp in spans:
                covered.update(range(sp.start, sp.end))
            for p in s.planted:
                if not all(i in covered for i in range(p.start, p.end) if s.text[i].isalnum()):
                    line_start = s.text.rfind("\n", 0, p.start) + 1
                    say(
                        f"MISS {p.entity:<14} {s.text[p.start : p.end]!r}  "
                        f"in: {s.text[line_start : p.end + 40]!r}"
                    )
                    shown += 1
            for sp in spans:
                if not any(p.start < sp.end and sp.start < p.end for p in s.planted):
                    say(f"FP   {sp.entity:<14} {s.text[sp.start : sp.end]!r}")
                    shown += 1
            if shown >= args.show_misses:
                break
    say("\nALL TARGETS MET" if ok else "\nSOME TARGETS MISSED")
    vanilla_label = f"vanilla Presidio, {len(vanilla_samples)} records"
    record(
        *(
            Row("sanitizer", f"recall, {cat}", ours.recall(by_cat[cat]), "", theirs.recall(by_cat[cat]),
                vanilla_label, min_value=TARGETS[cat])
            for cat in ("structured", "secrets", "names")
        ),
        Row("sanitizer", "non-PII tokens kept", ours.survival, "", theirs.survival, vanilla_label,
            min_value=TARGETS["non_pii_survival"]),
        Row("sanitizer", "exact duplicates removed", exact_removed / max(len(exact), 1), "", min_value=1.0,
            note=f"{exact_removed}/{len(exact)}; near copies caught {near_caught}/{len(near)}"),
    )  # fmt: skip


if __name__ == "__main__":
    main()
