"""Source to DynamoDB under load: sustained records/s and freshness percentiles (issue 16, item 7).

A Kafka node and a dynalite of the benchmark's own are started; the collector, sanitizer and writer run
as real processes (the harness of the fault tests, ``tests/reliability/chain.py``) and read a SQLite
table and a JSON log file that the benchmark grows. Three phases, one after the other on the same chain:

1. capacity: a backlog of ``--backlog`` records is written at once; the rate at which the writer stores
   it, between 10% and 90% of it (start and tail left out), is the most the machine holds;
2. ``--rate`` records/s (default 1,000) for ``--seconds``;
3. 80% of the measured capacity for ``--seconds``: near the most the machine holds, with headroom.

For phases 2 and 3: the stored rate (items the writer reports written, from 10 s into the phase to the
end of the feed), whether the chain kept up (records still unstored when the feed ended, seconds to
drain them), and freshness. Freshness is probed on every 20th record (a SQL row): a BatchGetItem every
100 ms until it is stored gives the moment it became readable; p50/p99 of that moment minus
``collected_at`` (collection to stored) and minus the commit to the source table (source to stored,
which adds the collector's poll interval). Figures, not asserts: the machine is shared and noisy.

    .venv/bin/python -m benchmarks.pipeline                  # the shipped policy, name detection on
    .venv/bin/python -m benchmarks.pipeline --no-names       # without spaCy's NER (the fault tests' policy)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from rich.progress import Progress

from benchmarks.report import Row, record, wide_console
from libs.devstack.dynalite import DynaliteProcess, install_dynalite
from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from tests.integration.pipeline_helpers import ServiceProcess
from tests.reliability.chain import Chain, Feeder, sql_record_id

SAMPLE_EVERY = 20  # every 20th record is probed (multiples of 20 are even: SQL rows)
PROBE_S = 0.1
WARM_S = 10.0  # left out of the stored rate at the start of a phase
console = wide_console()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its waited-for children, from /proc (0 when gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process of the run spent between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, Callable[[], int | None]]) -> None:
        self.pids = pids
        self.spent: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid()) for name, pid in self.pids.items()}
        self._wall = time.monotonic()
        return self

    def stop(self) -> CpuMeter:
        self.wall = time.monotonic() - self._wall
        self.spent = {name: cpu_seconds(pid()) - self._start[name] for name, pid in self.pids.items()}
        return self

    def line(self, records: int) -> str:
        return (
            ", ".join(
                f"{name} {spent / self.wall:.0%}"
                for name, spent in sorted(self.spent.items(), key=lambda kv: -kv[1])
            )
            + f" of a core ({records / self.wall:,.0f} records/s over {self.wall:.0f} s)"
        )


def items_written(port: int) -> float:
    """The writer's ``tuneline_writer_items_written_total``, summed over datasets."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tuneline_writer_items_written_total{")
    )


class FreshnessProbe:
    """Polls sampled records with BatchGetItem until each is stored; keeps (stored - collected_at,
    stored - committed to the source) per record, in seconds."""

    def __init__(self, client: Any, table: str, feeder: Feeder) -> None:
        self.client, self.table, self.feeder = client, table, feeder
        self.pending: dict[str, float] = {}  # id -> committed to the source (wall clock)
        self.tracked: set[int] = set()
        self.collect_to_store: list[float] = []
        self.source_to_store: list[float] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FreshnessProbe:
        self._thread.start()
        return self

    def finish(self, timeout_s: float) -> None:
        """Wait until every sampled record is seen (or ``timeout_s``), then stop."""
        deadline = time.monotonic() + timeout_s
        while (self.pending or len(self.tracked) < len(self.feeder.fed_at)) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self.stopping.is_set():
            for n, committed in list(self.feeder.fed_at.items()):
                if n not in self.tracked:
                    self.tracked.add(n)
                    self.pending[sql_record_id(n)] = committed
            for chunk in _chunks(list(self.pending), 100):
                answer = self.client.batch_get_item(
                    RequestItems={
                        self.table: {
                            "Keys": [{"id": {"S": key}} for key in chunk],
                            "ProjectionExpression": "id, collected_at",
                            "ConsistentRead": True,
                        }
                    }
                )
                seen = time.time()
                for item in answer["Responses"].get(self.table, []):
                    committed = self.pending.pop(item["id"]["S"])
                    collected = _epoch(item["collected_at"]["S"])
                    self.collect_to_store.append(seen - collected)
                    self.source_to_store.append(seen - committed)
            self.stopping.wait(PROBE_S)


def _pid(service: ServiceProcess) -> int | None:
    return service.proc.pid if service.proc is not None else None


def _chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class PhaseResult:
    name: str
    offered: float  # records/s fed
    stored_rate: float
    behind_at_end: int  # records fed but not stored when the feed ended
    drain_s: float  # seconds from the end of the feed to all stored
    collect_p50: float
    collect_p99: float
    source_p50: float
    source_p99: float
    samples: int


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, chain: Chain) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        chain.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.25)


def capacity(
    chain: Chain, folder: Path, first: int, backlog: int, progress: Progress, meter: CpuMeter
) -> float:
    """Write ``backlog`` records at once; the stored rate between 10% and 90% of them (and the CPU
    each process spent in that window)."""
    base = items_written(chain.writer_port)
    feeder = Feeder(folder, backlog, rate=1e9, chunk=500, first=first).start()
    task = progress.add_task(f"capacity: a backlog of {backlog:,}", total=backlog)
    marks: dict[float, float] = {}
    while (done := items_written(chain.writer_port) - base) < backlog:
        chain.check_alive()
        progress.update(task, completed=done)
        for share in (0.1, 0.9):
            if share not in marks and done >= share * backlog:
                marks[share] = time.monotonic()
                (meter.start if share == 0.1 else meter.stop)()
        time.sleep(0.25)
    progress.update(task, completed=backlog)
    feeder.join(60)
    if 0.9 not in marks:
        marks[0.9] = time.monotonic()
        meter.stop()
    return 0.8 * backlog / (marks[0.9] - marks[0.1])


def steady(
    chain: Chain, client: Any, folder: Path, first: int, rate: float, seconds: float, name: str,
    progress: Progress,
) -> PhaseResult:  # fmt: skip
    total = int(rate * seconds)
    base = items_written(chain.writer_port)
    feeder = Feeder(folder, total, rate, chunk=max(2, int(rate / 10)), first=first, sample_every=SAMPLE_EVERY)
    probe = FreshnessProbe(client, chain.table, feeder).start()
    task = progress.add_task(f"{name}: {rate:,.0f} records/s for {seconds:.0f} s", total=total)
    started = time.monotonic()
    feeder.start()
    warm: tuple[float, float] | None = None
    while not feeder.done:
        chain.check_alive()
        done = items_written(chain.writer_port) - base
        progress.update(task, completed=done)
        if warm is None and time.monotonic() - started >= WARM_S:
            warm = (time.monotonic(), done)
        time.sleep(0.25)
    feeder.join(10)
    ended, at_end = time.monotonic(), items_written(chain.writer_port) - base
    if warm is None:
        raise ValueError(f"{name}: the phase is shorter than its {WARM_S:.0f} s warm-up")
    wait_for(lambda: items_written(chain.writer_port) - base >= total, 600, f"{name}: all stored", chain)
    drain_s = time.monotonic() - ended
    progress.update(task, completed=total)
    probe.finish(60)
    return PhaseResult(
        name=name,
        offered=rate,
        stored_rate=(at_end - warm[1]) / (ended - warm[0]),
        behind_at_end=int(total - at_end),
        drain_s=drain_s,
        collect_p50=percentile(probe.collect_to_store, 50),
        collect_p99=percentile(probe.collect_to_store, 99),
        source_p50=percentile(probe.source_to_store, 50),
        source_p99=percentile(probe.source_to_store, 99),
        samples=len(probe.collect_to_store),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=30_000, help="records of the capacity phase")
    parser.add_argument("--rate", type=float, default=1_000.0, help="records/s of the second phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the fed phases")
    parser.add_argument("--names", action=argparse.BooleanOptionalAction, default=True, help="name detection")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tuneline-bench-pipeline-") as tmp:
        folder = Path(tmp)
        cache = DevStackSettings().cache_dir
        kafka = KafkaProcess(
            resolve_kafka_jars(cache),
            folder / "kafka",
            KafkaConfig(
                port=free_port(), controller_port=free_port(), data_dir=str(folder / "kafka" / "data")
            ),
            die_with_parent=True,
        )
        dynalite = DynaliteProcess(
            install_dynalite(cache), folder / "dynalite", port=free_port(), die_with_parent=True
        )
        bootstrap = kafka.start()
        dynalite.start()
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=dynalite.endpoint, region_name="us-east-1",
            aws_access_key_id=LOCAL_AWS_KEY_ID, aws_secret_access_key=LOCAL_AWS_SECRET,
        )  # fmt: skip
        chain = Chain(
            folder, bootstrap, dynalite.endpoint, f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:12],
            Feeder(folder, 0, 1.0), names=args.names, by_hash_partitions=6,
        )  # fmt: skip
        try:
            chain.start()
            with Progress(console=console, transient=True) as progress:
                # A first record through every stage: the services are up and their groups assigned.
                first = Feeder(folder, 2, 10.0).start()
                first.join(10)
                wait_for(
                    lambda: items_written(chain.writer_port) >= 2, 300, "the first records stored", chain
                )
                meter = CpuMeter(
                    {
                        "collector": lambda: _pid(chain.collector),
                        "sanitizer": lambda: _pid(chain.workers[0]),
                        "writer": lambda: _pid(chain.writer),
                        "kafka": kafka.daemon.pid,
                        "dynalite": dynalite.daemon.pid,
                    }
                )
                cap = capacity(chain, folder, 2, args.backlog, progress, meter)
                offset = 2 + args.backlog
                results = [steady(chain, client, folder, offset, args.rate, args.seconds, "fixed", progress)]
                offset += int(args.rate * args.seconds)
                near = round(0.8 * cap)
                results.append(
                    steady(chain, client, folder, offset, near, args.seconds, "near capacity", progress)
                )
        finally:
            chain.stop()
            kafka.daemon.stop()
            dynalite.daemon.stop()

    policy = "shipped policy" if args.names else "shipped policy without name detection"
    console.print(
        f"[bold]pipeline[/bold] collector -> sanitizer -> writer -> dynalite, {policy}, 2 cores shared"
    )
    console.print(f"capacity (a {args.backlog:,}-record backlog, 10%-90%): {cap:,.0f} records/s stored")
    console.print(f"CPU while draining it: {meter.line(round(0.8 * args.backlog))}")
    for r in results:
        kept = "kept up" if r.behind_at_end <= r.offered * 5 else f"{r.behind_at_end:,} behind at the end"
        console.print(
            f"{r.name:>13}: offered {r.offered:,.0f}/s, stored {r.stored_rate:,.0f}/s ({kept}; drained "
            f"{r.drain_s:.1f} s after the feed); freshness collected->stored p50 {r.collect_p50:.2f} s, "
            f"p99 {r.collect_p99:.2f} s; source->stored p50 {r.source_p50:.2f} s, p99 {r.source_p99:.2f} s "
            f"({r.samples} probes)"
        )
    stage = "pipeline" if args.names else "pipeline (no names)"
    record(Row(stage, "capacity, source to DynamoDB", cap, "records/s"))
    for r in results:
        record(Row(stage, f"stored at {r.offered:,.0f}/s offered", r.stored_rate, "records/s"))
        record(Row(stage, f"freshness p50 at {r.offered:,.0f}/s", r.collect_p50, "s"))
        record(Row(stage, f"freshness p99 at {r.offered:,.0f}/s", r.collect_p99, "s"))


if __name__ == "__main__":
    main()
