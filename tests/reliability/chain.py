"""The pipeline under faults: sources a test grows while it runs (a SQLite table and a JSON log file),
the collector, sanitizer and writer as real processes, and the checks every chain test makes at the end.

Each fed record carries a marker (``ref-<n>``) that sanitizing keeps and an e-mail address it must
replace, so a stored item tells which fed record it is and whether it was sanitized: "lost" is a marker
never stored, "stored twice" a marker under two ids (a record collected again under a new id), and a
stored e-mail a leak.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition

from libs.common.kafka import client_config, plaintext_settings
from libs.devstack.kafka import KafkaProcess
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.schemas.records import stable_record_id
from tests.integration.pipeline_helpers import ROOT, ServiceProcess, sanitizer_env

MARKER = re.compile(r"\bref-(\d{6})\b")
EMAIL = re.compile(r"\bcustomer\d+@example\.org\b")
WORDS = ["export", "billing", "archive", "session", "upload", "report", "backup", "invoice", "queue", "login"]
SQL_SOURCE, LOG_SOURCE = "tickets", "applog"


def ticket_text(n: int) -> tuple[str, str]:
    """(subject, body) of fed record ``n``: unique words, so near-dedup would keep it anyway."""
    rng = random.Random(n)
    topic = " ".join(rng.choice(WORDS) for _ in range(4))
    return (
        f"{WORDS[n % 10]} problem ref-{n:06d}",
        f"Customer customer{n}@example.org reports that the {topic} step stopped after "
        f"{rng.randint(2, 900)} items on node {rng.randint(1, 64)}.",
    )


class Feeder:
    """Grows the two sources at ``rate`` records/s, writing records ``first`` to ``first + total - 1``:
    even records become rows of the SQLite table ``tickets``, odd ones lines of the JSON log file
    (appended whole, then flushed). ``duplicate(n)`` inserts a new row with record ``n``'s exact
    content: a copy the sanitizer must drop. Several feeders may grow the same folder one after another
    (a benchmark's phases)."""

    def __init__(
        self, folder: Path, total: int, rate: float, chunk: int = 50, first: int = 0, sample_every: int = 0
    ) -> None:
        self.db, self.log = folder / "tickets.db", folder / "app.log"
        self.first, self.end, self.rate, self.chunk = first, first + total, rate, chunk
        self.fed = first  # records written so far (the next one's number)
        self.sample_every = sample_every
        self.fed_at: dict[int, float] = {}  # wall-clock time sampled SQL records were committed
        self.copies: list[int] = []  # row ids of the inserted copies
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._last_row_id = row_id(first - 2 + first % 2) if first else 0
        with sqlite3.connect(self.db) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, subject TEXT, body TEXT)"
            )
        self.log.touch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"the feeder did not finish within {timeout_s} s"
        assert self.errors == [], self.errors

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            started = time.monotonic()
            for low in range(self.first, self.end, self.chunk):
                numbers = range(low, min(low + self.chunk, self.end))
                rows = [(n, *ticket_text(n)) for n in numbers if n % 2 == 0]
                lines = b"".join(
                    orjson.dumps({"level": "WARN", "message": "\n".join(ticket_text(n))}) + b"\n"
                    for n in numbers
                    if n % 2 == 1
                )
                with self._lock, sqlite3.connect(self.db) as conn:
                    conn.executemany(
                        "INSERT INTO tickets VALUES (?, ?, ?)", [(row_id(n), s, b) for n, s, b in rows]
                    )
                    if rows:
                        self._last_row_id = row_id(rows[-1][0])
                if self.sample_every:
                    now = time.time()
                    self.fed_at.update((n, now) for n, _, _ in rows if n % self.sample_every == 0)
                with open(self.log, "ab") as log:
                    log.write(lines)
                self.fed = numbers[-1] + 1
                ahead = started + (self.fed - self.first) / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.errors.append(exc)

    def duplicate(self, n: int) -> int:
        """A new row whose content is record ``n``'s (an even, i.e. SQL, record); returns its row id:
        the next after the newest row, so the collector's cursor (the key) reads it next and still reads
        every row fed after it (their ids are higher still)."""
        assert n % 2 == 0 and n < self.fed
        with self._lock, sqlite3.connect(self.db) as conn:
            copy_id = self._last_row_id + 1
            assert copy_id % 4 != 0, "more than 3 copies between two fed rows"
            conn.execute("INSERT INTO tickets VALUES (?, ?, ?)", (copy_id, *ticket_text(n)))
            self._last_row_id = copy_id
        self.copies.append(copy_id)
        return copy_id


def row_id(n: int) -> int:
    """The key of fed record ``n`` (an even one) in the table: growing, as an autoincrement key would,
    with three free ids after each for copies (``Feeder.duplicate``)."""
    return 2 * n + 4


def sql_record_id(n: int) -> str:
    """The record id the collector gives fed record ``n`` (an even one: a row)."""
    return stable_record_id(SQL_SOURCE, orjson.dumps([row_id(n)]).decode())


@dataclass
class Chain:
    """The collector, ``sanitizers`` sanitizer workers and the writer on ``bootstrap``, storing in the
    DynamoDB-compatible server at ``dynamodb_endpoint``, all inside the TUNELINE_NAMESPACE ``ns``.

    The policy is the shipped one with, by default, two steps off: name detection (spaCy's NER would
    make the fault tests CPU-bound on a 2-core machine; the e-mail check is what tells a record was
    sanitized) and near-dedup (the fed records share a template)."""

    folder: Path
    bootstrap: str
    dynamodb_endpoint: str
    ns: str
    unique_id: str
    feeder: Feeder
    sanitizers: int = 1
    by_hash_partitions: int = 2
    names: bool = False
    near_dedup: bool = False
    processes: list[ServiceProcess] = field(default_factory=list)
    restarts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        sources = self.folder / "sources.yaml"
        sources.write_text(yaml.safe_dump({"sources": [
            {"kind": "sql", "name": SQL_SOURCE, "url": f"sqlite:///{self.feeder.db}", "table": SQL_SOURCE,
             "content_template": "{subject}\n{body}", "poll_interval_s": 0.5, "batch_size": 2000},
            {"kind": "log", "name": LOG_SOURCE, "paths": [str(self.feeder.log)], "parser": "json",
             "poll_interval_s": 0.3},
        ]}))  # fmt: skip
        policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
        policy["names"]["enabled"] = self.names
        policy["dedup"]["near"]["enabled"] = self.near_dedup
        (self.folder / "policy.yaml").write_text(yaml.safe_dump(policy))
        common = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TUNELINE_NAMESPACE": self.ns,
            "TUNELINE_KAFKA_BOOTSTRAP": self.bootstrap,
            "TUNELINE_DYNAMODB_ENDPOINT": self.dynamodb_endpoint,
            "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
            "TUNELINE_HOME": str(self.folder / "home"),
        }
        self.collector = ServiceProcess(
            "collector",
            {**common, "TUNELINE_COLLECTOR_CONFIG_FILE": str(sources),
             "TUNELINE_COLLECTOR_HTTP_PORT": str(free_port()),
             "TUNELINE_COLLECTOR_CHECKPOINT_INTERVAL_S": "0.5"},
            self.folder / "collector.log", self.folder,
        )  # fmt: skip
        self.workers = [
            ServiceProcess(
                "sanitizer",
                {
                    **sanitizer_env(
                        self.bootstrap,
                        self.unique_id,
                        self.folder / f"faust-{i}",
                        partitions=str(self.by_hash_partitions),
                    ),
                    **{k: v for k, v in common.items() if k.startswith(("TUNELINE_", "AWS_"))},
                    "TUNELINE_SANITIZER_CONFIG_FILE": str(self.folder / "policy.yaml"),
                },
                self.folder / f"sanitizer-{i}.log",
                self.folder,
            )  # fmt: skip
            for i in range(self.sanitizers)
        ]
        self.writer_port = free_port()
        self.writer = ServiceProcess(
            "writer",
            {**common, "TUNELINE_WRITER_HTTP_PORT": str(self.writer_port),
             "TUNELINE_WRITER_TOPIC_PARTITIONS": "3", "TUNELINE_WRITER_BATCH_MAX_WAIT_S": "0.5"},
            self.folder / "writer.log", self.folder,
        )  # fmt: skip

    # Names inside the namespace.
    @property
    def raw_topics(self) -> list[str]:
        return [f"{self.ns}.raw.{SQL_SOURCE}", f"{self.ns}.raw.{LOG_SOURCE}"]

    @property
    def sanitized_topic(self) -> str:
        return f"{self.ns}.sanitized.records"

    @property
    def table(self) -> str:
        return f"{self.ns}.tuneline-records"

    @property
    def groups(self) -> dict[str, list[str]]:
        return {
            f"{self.ns}.tuneline-sanitizer": self.raw_topics,
            f"{self.ns}.tuneline-writer": [self.sanitized_topic],
        }

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.collector, *self.workers, self.writer]

    def start(self) -> Chain:
        """The collector first, so both raw topics exist when the sanitizer resolves its input pattern."""
        self.collector.start()
        self.processes.append(self.collector)
        deadline = time.monotonic() + 90
        while not all(topic_exists(self.bootstrap, t) for t in self.raw_topics):
            self.check_alive()
            assert time.monotonic() < deadline, f"no raw topics:\n{self.collector.log()[-3000:]}"
            time.sleep(0.5)
        for service in [*self.workers, self.writer]:
            service.start()
            self.processes.append(service)
        self.wait_ready(180)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        """Until every service answers 200 on /readyz (the sanitizer: subscribed to the raw topics)."""
        deadline = time.monotonic() + timeout_s
        waiting = list(self.services)
        while waiting:
            self.check_alive()
            assert time.monotonic() < deadline, f"not ready within {timeout_s} s: {[s.name for s in waiting]}"
            waiting = [service for service in waiting if not ready(service)]
            time.sleep(0.5)

    def stop(self) -> None:
        for service in self.processes:
            service.stop()

    def check_alive(self) -> None:
        for service in self.services:
            if service.proc is not None:
                assert service.alive(), f"the {service.name} exited:\n{service.log()[-4000:]}"

    def kill(self, service: ServiceProcess) -> None:
        """kill -9, then start it again at once, as its supervisor (Kubernetes) would."""
        assert service.proc is not None and service.alive(), service.log()[-3000:]
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait(30)
        service.start()
        self.restarts[service.name] += 1

    def restart(self, service: ServiceProcess) -> None:
        """A clean restart (SIGTERM, wait, start): a rolling update."""
        service.stop(60)
        service.start()
        self.restarts[service.name] += 1

    def stored(self, client: Any) -> list[tuple[str, str]]:
        """(id, content) of every stored record, read from the server."""
        items: list[tuple[str, str]] = []
        try:
            pages = client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True, ProjectionExpression="id, content"
            )
            for page in pages:
                items.extend((item["id"]["S"], item["content"]["S"]) for item in page.get("Items", []))
        except client.exceptions.ResourceNotFoundException:
            return []
        return items

    def settle(self, client: Any, expected: int, timeout_s: float) -> float:
        """Wait until ``expected`` distinct markers are stored and every group's lag is zero; returns
        the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        progress = ""
        while time.monotonic() < deadline:
            self.check_alive()
            markers = {m for _, content in self.stored(client) for m in MARKER.findall(content)}
            progress = f"{len(markers)} of {expected} markers stored"
            if len(markers) >= expected:
                lags = {group: lag(self.bootstrap, group, topics) for group, topics in self.groups.items()}
                progress += f", lags {lags}"
                if not any(lags.values()):
                    return time.monotonic() - started
            time.sleep(2)
        raise AssertionError(f"not settled within {timeout_s} s: {progress}\n{self.writer.log()[-2000:]}")


@dataclass(frozen=True)
class Outcome:
    """What a chain test stored, by fed record."""

    fed: int
    stored: int
    lost: list[int]
    stored_twice: dict[int, int]  # marker -> items holding it, where more than one
    unmarked: list[str]  # stored ids without a marker (none expected)
    leaked: list[str]  # stored ids whose content still holds a fed e-mail address

    def line(self) -> str:
        return (
            f"fed {self.fed}, stored {self.stored}, lost {len(self.lost)}, stored twice "
            f"{len(self.stored_twice)}, unsanitized {len(self.leaked)}"
        )

    def assert_exactly_once(self) -> None:
        assert self.lost == [], f"{len(self.lost)} records lost, e.g. {self.lost[:10]}"
        assert self.stored_twice == {}, f"stored under two ids: {list(self.stored_twice.items())[:10]}"
        assert self.unmarked == [] and self.leaked == [], (self.unmarked[:5], self.leaked[:5])
        assert self.stored == self.fed


def outcome(items: Iterable[tuple[str, str]], fed: int) -> Outcome:
    per_marker: Counter[int] = Counter()
    unmarked, leaked = [], []
    count = 0
    for item_id, content in items:
        count += 1
        found = MARKER.findall(content)
        if not found:
            unmarked.append(item_id)
        per_marker.update(int(m) for m in found)
        if EMAIL.search(content):
            leaked.append(item_id)
    return Outcome(
        fed=fed,
        stored=count,
        lost=[n for n in range(fed) if n not in per_marker],
        stored_twice={n: c for n, c in per_marker.items() if c > 1},
        unmarked=unmarked,
        leaked=leaked,
    )


def kill_broker(kafka: KafkaProcess) -> float:
    """kill -9 the broker's process group; returns how long it took to be gone."""
    pid = kafka.daemon.pid()
    assert pid is not None, "the broker is not running"
    started = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    while kafka.daemon.pid() is not None:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        assert time.monotonic() - started < 30, "the broker survived SIGKILL"
        time.sleep(0.05)
    return time.monotonic() - started


def ready(service: ServiceProcess) -> bool:
    port = service.env[f"TUNELINE_{service.name.upper()}_HTTP_PORT"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status) == 200
    except OSError:  # not listening yet, or 503
        return False


def topic_exists(bootstrap: str, topic: str) -> bool:
    consumer = Consumer(client_config(plaintext_settings(bootstrap), {"group.id": "topic-probe"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        return meta is not None and meta.error is None and bool(meta.partitions)
    except Exception:  # noqa: BLE001 - a broker that is not up yet: not there
        return False
    finally:
        consumer.close()


def lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Messages in ``topics`` the group has not committed yet."""
    consumer = Consumer(
        client_config(plaintext_settings(bootstrap), {"group.id": group, "enable.auto.commit": False})
    )
    try:
        behind = 0
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts = [TopicPartition(topic, p) for p in meta.partitions]
            for tp in consumer.committed(parts, timeout=10):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
                behind += high - (tp.offset if tp.offset >= 0 else low)
        return behind
    finally:
        consumer.close()
