"""Speed of the sanitizer against vanilla Presidio: records per second on one core, same records,
same run. tuneline runs its whole pipeline (normalize, hash, exact and near dedup, detect, anonymize,
route) two ways: in batches, as the offline CLI does, and one record at a time, as the Faust stream
calls it. Vanilla Presidio runs one ``analyze`` + ``anonymize`` per text. Both engines get the same
record list; vanilla, being slow, gets its first ``--vanilla-n`` records, and tuneline's rates on that
same subset are the ones compared with it (its rates on the whole list are shown beside them).

    .venv/bin/python -m benchmarks.sanitizer_speed -n 3000 --vanilla-n 300
"""

from __future__ import annotations

import argparse
import time

from benchmarks.report import Row, record
from benchmarks.sanitizer_common import BENCH_KEYS, DEFAULT_MODEL, VanillaPresidio, pin_one_core, say
from benchmarks.sanitizer_data import generate
from libs.pii.policy import NamesPolicy
from libs.pii.spacy_ner import SpacyNerTagger
from libs.schemas import RawRecord
from services.sanitizer.build import Observer, build_sanitizer
from services.sanitizer.core.pipeline import Dropped
from services.sanitizer.core.policy import SanitizerPolicy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=3000, help="records (default 3000)")
    parser.add_argument(
        "--vanilla-n",
        type=int,
        default=300,
        help="the first records of the list that vanilla Presidio gets (default 300)",
    )
    parser.add_argument("--batch", type=int, default=512, help="tuneline batch size (offline CLI mode)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    cpu = pin_one_core()

    samples = generate(args.n, args.seed)
    records = [RawRecord.model_validate(s.raw_record()) for s in samples]
    subset = records[: args.vanilla_n]
    texts = [r.content for r in subset]  # the same records' content
    policy = SanitizerPolicy(names=NamesPolicy(model=args.model))
    ner = SpacyNerTagger.load(args.model)
    vanilla = VanillaPresidio(args.model)
    vanilla.sanitize_all(texts[:5])  # warm both
    build_sanitizer(policy, BENCH_KEYS, ner=ner).run(records[:20])

    def tuneline(batch: int, recs: list[RawRecord], observe: Observer | None = None) -> tuple[float, int]:
        """records/s and records kept; a fresh sanitizer (empty dedup history) each time."""
        sanitizer = build_sanitizer(policy, BENCH_KEYS, ner=ner, observe=observe)
        started = time.perf_counter()
        out: list[object] = []
        for i in range(0, len(recs), batch):
            out.extend(sanitizer.run(recs[i : i + batch]))
        return len(recs) / (time.perf_counter() - started), sum(not isinstance(o, Dropped) for o in out)

    modes = {f"tuneline, batches of {args.batch}": args.batch, "tuneline, one record at a time": 1}
    rates: dict[tuple[str, str], list[float]] = {}
    kept: dict[str, int] = {}
    stages: dict[str, float] = {}
    for _ in range(args.repeat):
        stages.clear()

        def observe(step: str, seconds: float, count: int) -> None:
            stages[step] = stages.get(step, 0.0) + seconds  # noqa: B023 - read right after the round

        for label, batch in modes.items():
            for scope, recs in (("all", records), ("subset", subset)):
                watch = observe if (scope, batch) == ("all", args.batch) else None
                rate, kept[scope] = tuneline(batch, recs, watch)
                rates.setdefault((label, scope), []).append(rate)
        started = time.perf_counter()
        vanilla.sanitize_all(texts)
        rates.setdefault(("vanilla", "subset"), []).append(len(texts) / (time.perf_counter() - started))

    best = {key: max(values) for key, values in rates.items()}
    theirs = best[("vanilla", "subset")]
    say(
        f"one core (cpu {cpu}); {len(records)} records ({kept['all']} kept after dedup), vanilla Presidio "
        f"on the first {len(subset)} of them ({kept['subset']} kept); best of {args.repeat} rounds"
    )
    width = max(len(label) for label in modes)
    say(
        f"{'':{width}}  {'all ' + str(len(records)):>12}  {'first ' + str(len(subset)):>12}  "
        f"{'vs vanilla (same ' + str(len(subset)) + ')':>24}"
    )
    for label in modes:
        on_all, on_subset = best[(label, "all")], best[(label, "subset")]
        say(f"{label:{width}}  {on_all:8.1f} r/s  {on_subset:8.1f} r/s  {on_subset / theirs:23.1f}x")
    say(f"{'vanilla Presidio':{width}}  {'-':>12}  {theirs:8.1f} r/s  {1.0:23.1f}x")
    say("target: at least 20x vanilla Presidio (the Faust stream runs one record at a time)")
    record(
        *(
            Row("sanitizer", f"speed, {label.removeprefix('tuneline, ')}", best[(label, "subset")],
                "records/s", theirs, f"vanilla Presidio, same {len(subset)}", min_ratio=20)
            for label in modes
        )
    )  # fmt: skip
    total = sum(stages.values())
    say(
        f"tuneline time by stage (last round, batches of {args.batch}, all records): "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
    )


if __name__ == "__main__":
    main()
