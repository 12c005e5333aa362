"""The example systems' records as the collector emits them, as RawRecord JSON lines.

Starts the three example systems (help-desk tickets, rotating application logs, knowledge-base API),
reads each once with the real collector adapters configured by examples/sources.yaml, and writes every
emitted record to ``-o``: the input of ``tuneline sanitize`` and of ``benchmarks.features``.

    .venv/bin/python -m benchmarks.example_records -o /tmp/examples.jsonl --tickets 1400 --log-lines 500
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.sanitizer_common import say
from examples import SOURCES_FILE, start_example_systems
from services.collector.core.items import Emit
from services.collector.sources import build_source, load_sources


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--tickets", type=int, default=1400)
    parser.add_argument("--log-lines", type=int, default=500)
    parser.add_argument("--kb-articles", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        systems = start_example_systems(
            work,
            tickets=args.tickets,
            log_lines=args.log_lines,
            log_rate=10_000,
            log_max_bytes=1 << 30,
            kb_articles=args.kb_articles,
        )
        with systems:
            systems.wait_for_logs(120)
            config = load_sources(SOURCES_FILE, systems.env)
            counts: dict[str, int] = {}
            with args.output.open("wb") as out:
                for source_config in config.sources:
                    source = build_source(source_config)
                    source.open({})
                    try:
                        for _ in range(3):  # a log source flushes a pending multi-line entry late
                            for item in source.poll():
                                if isinstance(item, Emit):
                                    out.write(item.value + b"\n")
                                    counts[source_config.name] = counts.get(source_config.name, 0) + 1
                    finally:
                        source.close()
    say(", ".join(f"{name}: {n}" for name, n in counts.items()) + f" -> {args.output}")


if __name__ == "__main__":
    main()
