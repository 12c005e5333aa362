"""Collector throughput into Kafka, measured side by side in one run on one pinned core:

- tuneline: a ``SourceRunner`` pass as the service runs it (batched, lz4, idempotent producer,
  checkpoints behind the acks), from a 200,000-row SQLite table and a 200,000-line log file;
- naive: the same records from the same sources, one ``produce`` + ``flush`` per record.

Records are about 200 bytes of text each. The broker is a local Kafka started for the run (its own
process, not pinned). Usage: ``python benchmarks/collector.py [--rows N] [--naive N]``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

from benchmarks.report import Row, record
from libs.common.kafka import ensure_topics, plaintext_settings
from libs.common.kafka import producer_config as idempotent_producer_config
from libs.common.settings import SharedSettings
from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from services.collector.adapters.kafka import producer_config
from services.collector.adapters.logfiles import LogFileSource
from services.collector.adapters.sql import SqlSource
from services.collector.core.config import LogSourceConfig, SqlSourceConfig
from services.collector.core.items import Emit, Item
from services.collector.core.source import Source
from services.collector.runner import SourceRunner

console = Console(stderr=True)
WORDS = "the checkout service returned an error while the customer was paying for the order".split()


def text(i: int) -> str:
    words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(28)]
    return f"ticket {i}: " + " ".join(words)[:185]


def make_sqlite(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, body TEXT, updated_at TEXT)")
        conn.executemany(
            "INSERT INTO tickets VALUES (?, ?, ?)",
            (
                (i, text(i), f"2026-11-25 10:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d}")
                for i in range(rows)
            ),
        )
        # As any table read by a cursor should have: keyset queries seek instead of sorting the table.
        conn.execute("CREATE INDEX tickets_cursor ON tickets (updated_at, id)")


def make_log(path: Path, lines: int) -> None:
    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"2026-11-25T10:00:00Z INFO {text(i)}\n")


def sources(workdir: Path, rows: int) -> list[tuple[str, Source]]:
    sql = SqlSource(
        SqlSourceConfig.model_validate(
            {"kind": "sql", "name": "bench-sql", "url": f"sqlite:///{workdir / 'tickets.db'}",
             "table": "tickets", "columns": ["id", "body"], "cursor": "updated_at", "key": ["id"],
             "content_template": "{body}"}
        )
    )  # fmt: skip
    logs = LogFileSource(
        LogSourceConfig.model_validate(
            {"kind": "log", "name": "bench-log", "paths": [str(workdir / "app.log")]}
        )
    )
    return [("SQLite table", sql), ("log file", logs)]


def run_tuneline(shared: SharedSettings, source: Source, topic: str) -> tuple[int, float]:
    stop = threading.Event()
    source_poll = source.poll

    def one_pass() -> Iterator[Item]:  # stop the runner after its first pass
        yield from source_poll()
        stop.set()

    source.poll = one_pass  # type: ignore[method-assign]
    producer = Producer(producer_config(shared))
    runner = SourceRunner(source, "bench", producer, topic, topic + ".dlq", topic + ".offsets", {}, 0.0)
    started = time.perf_counter()
    runner.run(stop)
    elapsed = time.perf_counter() - started
    return runner.acked_total, elapsed


def run_naive(shared: SharedSettings, source: Source, topic: str, limit: int) -> tuple[int, float]:
    producer = Producer(idempotent_producer_config(shared))
    source.open({})
    sent = 0
    started = time.perf_counter()
    for item in source.poll():
        if isinstance(item, Emit):
            producer.produce(topic, item.value, item.key)
            producer.flush()
            sent += 1
            if sent >= limit:
                break
    return sent, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows and log lines (default 200000)")
    parser.add_argument("--naive", type=int, default=5_000, help="records sent the naive way (default 5000)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core for us and librdkafka's threads

    with tempfile.TemporaryDirectory(prefix="tuneline-bench-") as tmp:
        workdir = Path(tmp)
        console.print(f"generating {args.rows:,} rows and {args.rows:,} log lines ...")
        make_sqlite(workdir / "tickets.db", args.rows)
        make_log(workdir / "app.log", args.rows)
        kafka = KafkaProcess(
            resolve_kafka_jars(DevStackSettings().cache_dir),
            workdir / "kafka",
            KafkaConfig(
                port=free_port(), controller_port=free_port(), data_dir=str(workdir / "kafka" / "data")
            ),
            die_with_parent=True,
        )
        shared = plaintext_settings(kafka.start())
        try:
            table = Table(title=f"collector into Kafka, one core, {args.rows:,} records per source")
            for column in ("source", "tuneline rec/s", "naive rec/s", "speed-up", "MB/s (tuneline)"):
                table.add_column(column, justify="right")
            for label, source in sources(workdir, args.rows):
                fast_topic, naive_topic = f"bench.{source.name}", f"bench.{source.name}.naive"
                ensure_topics(shared, {fast_topic: 3, naive_topic: 3, fast_topic + ".dlq": 1})
                ensure_topics(shared, {fast_topic + ".offsets": 1}, config={"cleanup.policy": "compact"})
                console.print(f"{label}: naive, {args.naive:,} records ...")
                naive_n, naive_s = run_naive(shared, source, naive_topic, args.naive)
                source.close()
                console.print(f"{label}: tuneline, {args.rows:,} records ...")
                n, elapsed = run_tuneline(shared, source, fast_topic)
                fast, naive = n / elapsed, naive_n / naive_s
                size = os.path.getsize(workdir / ("app.log" if source.name == "bench-log" else "tickets.db"))
                table.add_row(label, f"{fast:,.0f}", f"{naive:,.0f}", f"{fast / naive:.1f}x",
                              f"{size / elapsed / 1e6:.1f}")  # fmt: skip
                if n != args.rows:
                    raise SystemExit(f"{label}: {n} records acknowledged, expected {args.rows}")
                record(
                    Row("collector", f"{label} into Kafka, one core", fast, "records/s", naive,
                        "one produce + flush per record", min_ratio=20, min_value=50_000),
                )  # fmt: skip
            Console().print(table)
        finally:
            kafka.daemon.stop()


if __name__ == "__main__":
    main()
