"""The sanitizer's feature step on the example systems' records: its cost, what it finds, what each
filter would drop.

Input: RawRecord JSON lines (``benchmarks.example_records``). The records are sanitized once with the
feature step off (the example policy: config/sanitizer.yaml plus the example company's vocabulary), then

1. the feature step alone is timed on the sanitized texts (records/s, best of ``--repeats``);
2. ``tuneline sanitize``'s code path (``sanitize_file``) runs on the file with features off and on,
   alternately, in this process (NER model loaded once for both), best of ``--repeats`` each;
3. the distribution of languages, structures, token counts and quality issues is printed, and for
   each filter of the shipped policy and a few candidate settings, how many records it would drop.

    .venv/bin/python -m benchmarks.features /tmp/examples.jsonl --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.sanitizer_common import BENCH_KEYS, pin_one_core, say
from examples.systems import write_sanitizer_policy
from libs.schemas import RawRecord, SanitizedRecord, Structure
from services.sanitizer.adapters.features import language_identifier, token_counter
from services.sanitizer.build import build_sanitizer, load_ner
from services.sanitizer.core.features import FeatureExtractor, FeatureFilter
from services.sanitizer.core.pipeline import Dropped, Work
from services.sanitizer.core.policy import FiltersPolicy, SanitizerPolicy, load_policy
from services.sanitizer.offline import sanitize_file

ROOT = Path(__file__).parents[1]

CANDIDATES: dict[str, FiltersPolicy] = {
    "languages: [en]": FiltersPolicy(languages=["en"]),
    "min_quality: 0.8": FiltersPolicy(min_quality=0.8),
    "min_quality: 0.9": FiltersPolicy(min_quality=0.9),
    "min_quality: 1.0": FiltersPolicy(min_quality=1.0),
    "min_quality: 0.9, logs not exempt": FiltersPolicy(min_quality=0.9, exempt_structures=[]),
    "structures: [qa]": FiltersPolicy(structures=[Structure.QA]),
    "max_tokens: 256": FiltersPolicy(max_tokens=256),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records", type=Path, help="RawRecord JSON lines")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", type=Path, default=ROOT / "config" / "sanitizer.yaml")
    args = parser.parse_args()
    cpu = pin_one_core()
    say(f"pinned to cpu {cpu}")

    with tempfile.TemporaryDirectory() as work:
        shipped = load_policy(write_sanitizer_policy(args.policy, Path(work) / "policy.yaml"))
        plain = shipped.model_copy(
            update={"features": shipped.features.model_copy(update={"enabled": False})}
        )
        plain = SanitizerPolicy.model_validate(plain.model_dump())
        off = plain.model_copy(update={"filters": FiltersPolicy()})
        ner = load_ner(shipped)
        raws = [RawRecord.model_validate_json(line) for line in args.records.read_text().splitlines()]
        sanitized = [
            r for r in build_sanitizer(off, BENCH_KEYS, ner=ner).run(raws) if not isinstance(r, Dropped)
        ]
        say(f"{len(raws)} raw records, {len(sanitized)} after dedup and anonymization (features off)")

        # 1. The feature step alone.
        count = token_counter(shipped.features.tokenizer)
        if count is None:
            raise SystemExit("the tokenizer is not prepared: run `tuneline models prepare`")
        extractor = FeatureExtractor(shipped.features, language_identifier(), count)
        times = []
        for _ in range(args.repeats):
            works = [_work(r) for r in sanitized]
            started = time.perf_counter()
            extractor.process_batch(works)
            times.append(time.perf_counter() - started)
        best = min(times)
        say(f"feature step alone: {len(works) / best:,.0f} records/s (best of {args.repeats}, {best:.3f} s)")
        for part, fn in (
            ("  language id", lambda: [language_identifier()(w.content) for w in works]),
            ("  token count", lambda: count([w.content for w in works])),
        ):
            started = time.perf_counter()
            fn()
            say(f"{part}: {len(works) / (time.perf_counter() - started):,.0f} records/s")

        # 2. `tuneline sanitize`, features off and on, alternately.
        rates: dict[str, list[float]] = {"features off": [], "features on": []}
        policies = {
            "features off": off,
            "features on": shipped.model_copy(update={"filters": FiltersPolicy()}),
        }
        for _ in range(args.repeats):
            for label, policy in policies.items():
                sanitizer = build_sanitizer(policy, BENCH_KEYS, ner=ner)
                started = time.perf_counter()
                summary = sanitize_file(args.records, Path(work) / "out.jsonl", sanitizer, 1 << 20)
                rates[label].append(summary.records_in / (time.perf_counter() - started))
        for label, values in rates.items():
            best, median = max(values), statistics.median(values)
            say(
                f"tuneline sanitize, {label}: best {best:,.0f}, median {median:,.0f} records/s "
                f"(runs {_fmt(values)})"
            )
        ratio = statistics.median(rates["features on"]) / statistics.median(rates["features off"])
        say(f"  features on / off (medians): {ratio:.2f}")

        # 3. Distribution and filters, on the features of every sanitized record.
        works = [_work(r) for r in sanitized]
        extractor.process_batch(works)
        feats = [w.features for w in works if w.features is not None]
        by_source: dict[str, Counter[str]] = {}
        for w in works:
            assert w.features is not None  # noqa: S101
            by_source.setdefault(w.record.source, Counter())[
                f"{w.features.structure.value}/{w.features.lang}"
            ] += 1
        say("languages: " + _counts(Counter(f.lang for f in feats)))
        say("structures: " + _counts(Counter(f.structure.value for f in feats)))
        for source, counts in sorted(by_source.items()):
            say(f"  {source}: " + _counts(counts))
        tokens = [f.tokens for f in feats if f.tokens is not None]
        if tokens:
            q = statistics.quantiles(tokens, n=20)
            median = statistics.median(tokens)
            say(f"tokens: median {median:.0f}, p5 {q[0]:.0f}, p95 {q[-1]:.0f}, max {max(tokens)}")
        say("quality: " + _counts(Counter(f"{f.quality:.2f}" for f in feats)))
        for structure in Structure:
            issues = Counter(i for f in feats if f.structure is structure for i in f.quality_issues)
            if issues:
                say(f"  issues of {structure.value}: " + _counts(issues))
        say("filters (records of the example data each would drop):")
        say(f"  shipped policy ({_describe(shipped.filters)}): {_dropped(works, shipped.filters)}")
        for label, filters in CANDIDATES.items():
            say(f"  {label}: {_dropped(works, filters)}")


def _work(record: SanitizedRecord) -> Work:
    raw = RawRecord.model_validate(record.model_dump(include=set(RawRecord.model_fields)))
    work = Work.of(raw)
    work.content = record.content
    return work


def _dropped(works: list[Work], filters: FiltersPolicy) -> str:
    step = FeatureFilter(filters)
    reasons = Counter(o.reason for o in (step.process(w) for w in works) if isinstance(o, Dropped))
    return f"{sum(reasons.values())} of {len(works)}" + (f" ({_counts(reasons)})" if reasons else "")


def _describe(filters: FiltersPolicy) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.model_dump(exclude_defaults=True).items()) or "all off"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common())


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


if __name__ == "__main__":
    main()
