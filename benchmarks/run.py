"""``make bench``: run every benchmark, each in a process of its own with its usual output, then print one
table of their headline figures (stage, figure, value, baseline, ratio, target).

    .venv/bin/python -m benchmarks.run            # full sizes (about 15-20 minutes on 2 cores)
    .venv/bin/python -m benchmarks.run --quick    # small sizes: the same figures in a few minutes
    .venv/bin/python -m benchmarks.run --only writer --only codec --markdown /tmp/bench.md

Quick sizes measure the same things on less data, so their ratios are noisier (and fixed costs weigh
more): use them to check that everything runs, the full sizes for the figures you publish.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import ROWS_ENV, load, markdown, table, wide_console


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    quick: tuple[str, ...]  # arguments for --quick; full sizes are each script's defaults


BENCHMARKS = (
    Benchmark("codec", "benchmarks.bench_codec", ("--records", "5000", "--repeats", "3")),
    Benchmark("writer", "benchmarks.writer", ("--records", "4000", "--naive", "600")),
    Benchmark("collector", "benchmarks.collector", ("--rows", "20000", "--naive", "1000")),
    Benchmark("sanitizer-quality", "benchmarks.sanitizer_quality", ("-n", "400", "--vanilla-n", "100")),
    # Presidio's own recognizer test cases (benchmarks/presidio_suite): small, the same at both sizes.
    Benchmark("presidio-suite", "benchmarks.presidio_suite.score", ()),
    Benchmark(
        "sanitizer-speed", "benchmarks.sanitizer_speed", ("-n", "600", "--vanilla-n", "60", "--repeat", "1")
    ),
    Benchmark(
        "sanitizer-stream",
        "benchmarks.sanitizer_stream",
        ("-n", "1500", "--vanilla-n", "60", "--lone", "3"),
    ),
    Benchmark(
        "pipeline",
        "benchmarks.pipeline",
        ("--backlog", "6000", "--rate", "300", "--seconds", "20", "--no-names"),
    ),
    Benchmark("trainer", "benchmarks.trainer", ("--steps", "15", "--records", "2000")),
    Benchmark("evaluator", "benchmarks.evaluator", ("--examples", "64", "--generate", "8", "--repeats", "1")),
    Benchmark("serving", "benchmarks.serving", ("--requests", "1", "--max-tokens", "32")),
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", action="append", choices=names, help="run only these (repeatable)")
    parser.add_argument(
        "--rows", type=Path, help="keep the JSON rows in this file (default: a temporary one)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = parser.parse_args()
    console = wide_console()
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]

    with tempfile.TemporaryDirectory(prefix="tuneline-bench-") as tmp:
        rows_path = args.rows or Path(tmp) / "rows.jsonl"
        rows_path.unlink(missing_ok=True)
        env = {**os.environ, ROWS_ENV: str(rows_path)}
        durations: dict[str, float] = {}
        failed: list[str] = []
        reported = 0
        for bench in chosen:
            command = [sys.executable, "-m", bench.module, *(bench.quick if args.quick else ())]
            console.rule(f"[bold]{bench.name}[/bold]: {' '.join(command[1:])}")
            started = time.perf_counter()
            done = subprocess.run(command, env=env, check=False)  # noqa: S603 - this interpreter, our modules
            durations[bench.name] = time.perf_counter() - started
            if done.returncode != 0:
                failed.append(f"{bench.name} (exit {done.returncode})")
            elif len(load(rows_path)) == reported:
                failed.append(f"{bench.name} (reported no figures)")
            reported = len(load(rows_path))
        rows = load(rows_path)

    size = "quick sizes" if args.quick else "full sizes"
    spent = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in durations.items())
    console.rule("[bold]all benchmarks[/bold]")
    console.print(table(rows, f"tuneline benchmarks, {size} (ratio = value / baseline, same run)"))
    console.print(f"time: {sum(durations.values()):.0f}s ({spent})")
    if args.markdown:
        args.markdown.write_text(markdown(rows))
        console.print(f"markdown table: {args.markdown}")
    if failed:
        console.print(f"[red]failed:[/red] {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
