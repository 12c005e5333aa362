"""Speed of the sanitizer against vanilla Presidio: records per second on one core, same records,
same run. tuneline runs its whole offline pipeline (normalize, hash, exact and near dedup, detect,
anonymize, route) in batches; vanilla Presidio runs one ``analyze`` + ``anonymize`` per text.

    .venv/bin/python -m benchmarks.sanitizer_speed -n 3000 --vanilla-n 300
"""

from __future__ import annotations

import argparse
import time

from benchmarks.sanitizer_common import BENCH_KEYS, DEFAULT_MODEL, VanillaPresidio, pin_one_core, say
from benchmarks.sanitizer_data import generate
from libs.schemas import RawRecord
from services.sanitizer.adapters.spacy_ner import SpacyNerTagger
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.pipeline import Dropped
from services.sanitizer.core.policy import NamesPolicy, SanitizerPolicy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=3000, help="records for tuneline (default 3000)")
    parser.add_argument(
        "--vanilla-n", type=int, default=300, help="records for vanilla Presidio (default 300)"
    )
    parser.add_argument("--batch", type=int, default=512, help="tuneline batch size")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    cpu = pin_one_core()

    samples = generate(args.n, args.seed)
    records = [RawRecord.model_validate(s.raw_record()) for s in samples]
    texts = [s.text for s in samples[: args.vanilla_n]]
    policy = SanitizerPolicy(names=NamesPolicy(model=args.model))
    ner = SpacyNerTagger.load(args.model)
    vanilla = VanillaPresidio(args.model)
    vanilla.sanitize_all(texts[:5])  # warm both
    build_sanitizer(policy, BENCH_KEYS, ner=ner).run(records[:20])

    ours_rates, theirs_rates = [], []
    stages: dict[str, float] = {}
    for _ in range(args.repeat):
        stages.clear()

        def observe(step: str, seconds: float, count: int) -> None:
            stages[step] = stages.get(step, 0.0) + seconds  # noqa: B023 - read right after the round

        sanitizer = build_sanitizer(policy, BENCH_KEYS, ner=ner, observe=observe)  # fresh dedup history
        started = time.perf_counter()
        out = []
        for i in range(0, len(records), args.batch):
            out.extend(sanitizer.run(records[i : i + args.batch]))
        ours_rates.append(len(records) / (time.perf_counter() - started))

        started = time.perf_counter()
        vanilla.sanitize_all(texts)
        theirs_rates.append(len(texts) / (time.perf_counter() - started))

    kept = sum(not isinstance(o, Dropped) for o in out)
    ours, theirs = max(ours_rates), max(theirs_rates)
    say(
        f"one core (cpu {cpu}); tuneline {len(records)} records ({kept} kept), "
        f"vanilla Presidio {len(texts)} records"
    )
    say(f"tuneline sanitizer : {ours:8.1f} records/s  (rounds: {', '.join(f'{r:.0f}' for r in ours_rates)})")
    say(
        f"vanilla Presidio   : {theirs:8.1f} records/s  "
        f"(rounds: {', '.join(f'{r:.1f}' for r in theirs_rates)})"
    )
    say(f"speed-up           : {ours / theirs:8.1f}x  (target 20x)")
    total = sum(stages.values())
    say(
        "tuneline time by stage (last round): "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
    )


if __name__ == "__main__":
    main()
