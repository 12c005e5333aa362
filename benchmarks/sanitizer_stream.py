"""The Faust stream against the offline path and vanilla Presidio, same records, same run.

A local Kafka is started for the run; a backlog of ``-n`` labelled records (``sanitizer_data``) is
produced to a raw topic of 6 partitions, then the real sanitizer worker (``python -m
services.sanitizer``, the policy of ``config/sanitizer.yaml``, pinned to one core) drains it. Its steady
rate is the input rate between the moments 10% and 90% of the expected outputs arrived on
``sanitized.records`` (start-up, recovery and the tail left out). In the same run, on the same core:
the offline path (``Sanitizer.run``, what ``tuneline sanitize`` does) over the same records, and
vanilla Presidio (one ``analyze`` + ``anonymize`` per text) over the first ``--vanilla-n``. Then the
latency of a lone record at low load (produced to raw, read from ``sanitized.records``), and, with
``--two-workers``, the drain rate of two workers (one core each) on the same 6 partitions.

    .venv/bin/python -m benchmarks.sanitizer_stream -n 4000 --vanilla-n 200 --two-workers
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer

from benchmarks.report import Row, record
from benchmarks.sanitizer_common import BENCH_KEYS, VanillaPresidio, say
from benchmarks.sanitizer_data import generate
from libs.common.kafka import (
    admin_client,
    consumer_config,
    ensure_topics,
    plaintext_settings,
    producer_config,
)
from libs.devstack.kafka import KafkaConfig, KafkaProcess, resolve_kafka_jars
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from libs.schemas import RawRecord, SanitizedRecord
from services.sanitizer.build import build_sanitizer, freeze_loaded_objects, load_ner
from services.sanitizer.core.policy import load_policy
from services.sanitizer.settings import SanitizerSettings

ROOT = Path(__file__).parents[1]
PARTITIONS = 6


def _produce(bootstrap: str, topic: str, records: list[dict[str, object]]) -> None:
    producer = Producer(producer_config(plaintext_settings(bootstrap)))
    for r in records:
        producer.produce(topic, key=str(r["id"]).encode(), value=json.dumps(r).encode())
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("backlog not delivered")


class Run:
    """One drain: fresh topics and a fresh app id, ``workers`` worker processes."""

    def __init__(self, bootstrap: str, workdir: Path, name: str, batch: int, within: float) -> None:
        self.bootstrap, self.name = bootstrap, name
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.raw, self.by_hash, self.out, self.dlq = (
            f"raw.{tag}",
            f"by-hash-{tag}",
            f"sanitized-{tag}",
            f"dlq-{tag}",
        )
        ensure_topics(
            plaintext_settings(bootstrap),
            {self.raw: PARTITIONS, self.by_hash: PARTITIONS, self.out: PARTITIONS, self.dlq: 1},
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TUNELINE_KAFKA_BOOTSTRAP": bootstrap,
            "TUNELINE_LOG_LEVEL": "WARNING",
            "TUNELINE_SANITIZER_PSEUDONYM_KEY": BENCH_KEYS.pseudonym_key.decode(),
            "TUNELINE_SANITIZER_CONFIG_FILE": str(ROOT / "config" / "sanitizer.yaml"),
            "TUNELINE_SANITIZER_APP_ID": f"bench-{tag}",
            "TUNELINE_SANITIZER_INPUT_TOPICS": json.dumps([self.raw]),
            "TUNELINE_SANITIZER_BY_HASH_TOPIC": self.by_hash,
            "TUNELINE_SANITIZER_OUTPUT_TOPIC": self.out,
            "TUNELINE_SANITIZER_DLQ_TOPIC": self.dlq,
            "TUNELINE_SANITIZER_PARTITIONS": str(PARTITIONS),
            "TUNELINE_SANITIZER_STORE": "memory://",
            "TUNELINE_SANITIZER_BATCH_SIZE": str(batch),
            "TUNELINE_SANITIZER_BATCH_WITHIN_S": str(within),
            "OMP_NUM_THREADS": "1",
        }
        self.workdir = workdir / tag
        self.workdir.mkdir(parents=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.consumer = Consumer(consumer_config(plaintext_settings(bootstrap), f"bench-read-{tag}"))
        self.consumer.subscribe([self.out])

    def start_worker(self, cpu: int) -> None:
        n = len(self.procs)
        env = {
            **self.env,
            "TUNELINE_SANITIZER_DATADIR": str(self.workdir / f"faust-{n}"),
            "TUNELINE_SANITIZER_HTTP_PORT": str(free_port()),
            "TUNELINE_SANITIZER_FAUST_WEB_PORT": str(free_port()),
        }
        log = open(self.workdir / f"worker-{n}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.procs.append(
            subprocess.Popen(  # noqa: S603 - this interpreter, our module
                [sys.executable, "-m", "services.sanitizer"],
                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),  # one core per worker
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        )
        log.close()

    def wait_assigned(self, timeout_s: float = 180.0) -> float:
        """Waits until the workers' group is stable with every worker holding partitions (so the drain
        measures processing, not start-up or rebalancing); returns the seconds it took."""
        admin = admin_client(plaintext_settings(self.bootstrap))
        group = self.env["TUNELINE_SANITIZER_APP_ID"]
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"worker exited {p.returncode}; log in {self.workdir}")
            try:
                described = admin.describe_consumer_groups([group])[group].result(timeout=10)
            except (KafkaException, TimeoutError):  # no coordinator or no group yet
                time.sleep(0.5)
                continue
            members = described.members
            if (
                str(described.state).endswith("STABLE")
                and len(members) == len(self.procs)
                and all(m.assignment and m.assignment.topic_partitions for m in members)
            ):
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"the group {group} did not settle in {timeout_s}s; logs in {self.workdir}")

    def arrivals(self, expected: int, timeout_s: float, idle_s: float = 30.0) -> list[float]:
        """Arrival times of outputs until ``expected`` arrived (or nothing came for ``idle_s``)."""
        times: list[float] = []
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while len(times) < expected and time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"worker exited {p.returncode}; log in {self.workdir}")
            msgs = self.consumer.consume(500, 0.5)
            now = time.monotonic()
            got = [m for m in msgs if m.error() is None]
            times.extend([now] * len(got))
            if got:
                last = now
            elif times and now - last > idle_s:
                break
        return times

    def lone_latency(self, n: int, spacing_s: float = 1.0) -> list[float]:
        """Seconds from producing one new record to reading its sanitized output, ``n`` times apart."""
        producer = Producer(producer_config(plaintext_settings(self.bootstrap)))
        seen: list[float] = []
        for i in range(n):
            rid = f"support:lone-{uuid.uuid4().hex}"
            value = {
                "id": rid,
                "source": "support",
                "kind": "log",
                "content": f"Lone ticket {i} {uuid.uuid4().hex}: call Maria Jensen at +1 415-555-0134 today.",
                "collected_at": "2026-01-01T00:00:00Z",
            }
            started = time.monotonic()
            producer.produce(self.raw, key=rid.encode(), value=json.dumps(value).encode())
            producer.flush(10)
            while time.monotonic() - started < 30:
                msg = self.consumer.poll(0.01)
                if msg is not None and msg.error() is None:
                    value_bytes = msg.value()
                    if value_bytes and SanitizedRecord.model_validate_json(value_bytes).id == rid:
                        seen.append(time.monotonic() - started)
                        break
            time.sleep(spacing_s)
        return seen

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.consumer.close()


def steady_rate(times: list[float], expected: int, n_in: int) -> float:
    """Input records/s between 10% and 90% of the expected outputs (outputs spread like inputs)."""
    lo, hi = int(expected * 0.1), int(expected * 0.9)
    if len(times) <= hi or times[hi] <= times[lo]:
        raise RuntimeError(f"only {len(times)} of {expected} outputs arrived")
    return n_in * (hi - lo) / expected / (times[hi] - times[lo])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=4000, help="backlog records (default 4000)")
    parser.add_argument("--vanilla-n", type=int, default=200, help="records for vanilla Presidio")
    parser.add_argument("--seed", type=int, default=17)
    defaults = SanitizerSettings.model_fields  # the worker's own defaults
    parser.add_argument(
        "--batch", type=int, default=defaults["batch_size"].default, help="TUNELINE_SANITIZER_BATCH_SIZE"
    )
    parser.add_argument(
        "--within",
        type=float,
        default=defaults["batch_within_s"].default,
        help="TUNELINE_SANITIZER_BATCH_WITHIN_S",
    )
    parser.add_argument("--lone", type=int, default=5, help="lone records for the latency at low load")
    parser.add_argument("--two-workers", action="store_true", help="also drain with two workers")
    parser.add_argument("--keep", type=Path, help="keep the broker's and workers' files and logs here")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    core = cpus[-1]

    policy = load_policy(ROOT / "config" / "sanitizer.yaml")
    ner = load_ner(policy)
    samples = generate(args.n, args.seed, near_rate=0.0)
    raws = [s.raw_record() for s in samples]
    records = [RawRecord.model_validate(r) for r in raws]

    # offline and vanilla, on the worker's core
    os.sched_setaffinity(0, {core})
    build_sanitizer(policy, BENCH_KEYS, ner=ner).run(records[:50])  # warm
    freeze_loaded_objects()  # as `tuneline sanitize` and the worker do
    started = time.perf_counter()
    results = build_sanitizer(policy, BENCH_KEYS, ner=ner).run(records)
    offline = len(records) / (time.perf_counter() - started)
    expected = sum(isinstance(r, SanitizedRecord) for r in results)
    vanilla = VanillaPresidio()
    texts = [r.content for r in records[: args.vanilla_n]]
    vanilla.sanitize_all(texts[:5])
    started = time.perf_counter()
    vanilla.sanitize_all(texts)
    theirs = len(texts) / (time.perf_counter() - started)
    os.sched_setaffinity(0, set(cpus))
    del vanilla

    with tempfile.TemporaryDirectory(prefix="tuneline-bench-stream-") as tmp:
        workdir = args.keep or Path(tmp)
        kafka = KafkaProcess(
            resolve_kafka_jars(DevStackSettings().cache_dir),
            workdir / "kafka",
            KafkaConfig(
                port=free_port(), controller_port=free_port(), data_dir=str(workdir / "kafka" / "data")
            ),
        )
        bootstrap = kafka.start()
        try:
            one = Run(bootstrap, workdir, "one", args.batch, args.within)
            try:
                one.start_worker(core)
                one.wait_assigned()
                _produce(bootstrap, one.raw, raws)
                times = one.arrivals(expected, timeout_s=1200)
                stream = steady_rate(times, expected, len(records))
                latencies = one.lone_latency(args.lone)
            finally:
                one.close()
            two_rate = None
            if args.two_workers and len(cpus) >= 2:
                two = Run(bootstrap, workdir, "two", args.batch, args.within)
                try:
                    two.start_worker(cpus[-1])
                    two.start_worker(cpus[-2])
                    two.wait_assigned()
                    _produce(bootstrap, two.raw, raws)
                    two_rate = steady_rate(two.arrivals(expected, timeout_s=1200), expected, len(records))
                finally:
                    two.close()
        finally:
            kafka.daemon.stop()

    say(
        f"{len(records)} records ({expected} expected out after dedup), 6 partitions, batch {args.batch}, "
        f"within {args.within}s; worker, offline and vanilla each on cpu {core}; the broker on any core"
    )
    say(f"stream, one worker (steady)  {stream:8.1f} r/s")
    say(f"offline Sanitizer.run        {offline:8.1f} r/s   stream/offline {stream / offline:5.2f} (>= 0.8)")
    say(
        f"vanilla Presidio, {len(texts):<5}    {theirs:8.1f} r/s   "
        f"stream/vanilla {stream / theirs:5.1f}x (>= 25)"
    )
    if latencies:
        say(
            f"lone record at low load: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} "
            f"(two agents, within {args.within}s each)"
        )
    else:
        say("lone record at low load: none came back within 30 s")
    rows = [
        Row("sanitizer", "stream, one worker", stream, "records/s", offline, "offline Sanitizer.run",
            min_ratio=0.8),
        Row("sanitizer", "stream, one worker vs vanilla", stream, "records/s", theirs,
            f"vanilla Presidio, {len(texts)} records", min_ratio=25),
    ]  # fmt: skip
    if latencies:
        rows.append(Row("sanitizer", "stream, lone record latency", max(latencies) * 1000, "ms (max)"))
    if two_rate is not None:
        say(f"stream, two workers (steady) {two_rate:8.1f} r/s   two/one {two_rate / stream:5.2f} (>= 1.6)")
        rows.append(Row("sanitizer", "stream, two workers", two_rate, "records/s", stream, "one worker"))
    record(*rows)


if __name__ == "__main__":
    main()
