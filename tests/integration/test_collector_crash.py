"""kill -9 the collector again and again while it reads 50,000 rows and 50,000 log lines: nothing is lost."""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from libs.common.kafka import client_config, plaintext_settings
from libs.schemas.names import raw_topic
from libs.schemas.records import stable_record_id
from tests.integration.collector_helpers import Collector, read_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 50_000


class DistinctKeys:
    """Distinct message keys in some topics so far, read incrementally (the topics grow to ~170k messages,
    so re-reading them after every kill would dominate the test)."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.topics = topics
        self.keys: set[bytes] = set()
        self.consumer = Consumer(
            client_config(
                plaintext_settings(bootstrap),
                {"group.id": f"distinct-{time.monotonic_ns()}", "enable.auto.commit": False},
            )
        )
        self.next: dict[tuple[str, int], int] = {}

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """The topics' end offsets now; a topic that does not exist or has no leader yet counts as empty."""
        ends: dict[tuple[str, int], int] = {}
        for topic in self.topics:
            try:
                meta = self.consumer.list_topics(topic, timeout=10).topics.get(topic)
                if meta is None or meta.error is not None:
                    continue
                for p in meta.partitions:
                    tp = TopicPartition(topic, p)
                    ends[(topic, p)] = self.consumer.get_watermark_offsets(tp, timeout=10)[1]
            except KafkaException:
                continue
        return ends

    def catch_up(self) -> int:
        """Read up to the topics' current end offsets; return how many distinct keys there are."""
        ends = self.end_offsets()
        behind = {tp: end for tp, end in ends.items() if self.next.get(tp, 0) < end}
        if not behind:
            return len(self.keys)
        self.consumer.assign([TopicPartition(t, p, self.next.get((t, p), 0)) for t, p in behind])
        deadline = time.monotonic() + 120
        while behind and time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            tp = (str(msg.topic()), int(msg.partition() or 0))
            self.keys.add(msg.key() or b"")
            self.next[tp] = int(msg.offset() or 0) + 1
            if self.next[tp] >= behind.get(tp, 0):
                behind.pop(tp, None)
        assert not behind, f"could not read up to the end offsets: {behind}"
        return len(self.keys)

    def close(self) -> None:
        self.consumer.close()


def test_kill_9_at_random_moments_loses_nothing(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: Callable[..., Collector]
) -> None:
    db = tmp_path / "orders.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, note TEXT, total NUMERIC)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            ((i, f"customer {i % 977}", f"order note {i} " + "x" * 100, i * 0.01) for i in range(1, N + 1)),
        )
    logs = tmp_path / "app.log"
    with open(logs, "w") as f:
        for seq in range(N):
            f.write(
                f"2026-11-25T10:00:00Z INFO seq={seq} handled request in 12ms status=200 " + "y" * 80 + "\n"
            )
    sql_source, log_source = f"orders-{unique_id}", f"applog-{unique_id}"
    collector = make_collector([
        {"kind": "sql", "name": sql_source, "url": f"sqlite:///{db}", "table": "orders", "batch_size": 500,
         "poll_interval_s": 0.2},
        {"kind": "log", "name": log_source, "paths": [str(logs)], "read_chunk_bytes": 16384,
         "poll_interval_s": 0.2},
    ])  # fmt: skip
    topics = [raw_topic(sql_source), raw_topic(log_source)]
    rng = random.Random(20261125)
    kills = mid_stream = 0
    distinct_keys = DistinctKeys(kafka_bootstrap, topics)
    started = time.monotonic()
    while kills < 10:
        before = distinct_keys.end_offsets()
        collector.start()
        deadline = time.monotonic() + 60
        while distinct_keys.end_offsets() == before and time.monotonic() < deadline:
            time.sleep(0.02)  # wait for this run to produce something, then kill it at a random moment
        time.sleep(rng.uniform(0.0, 0.3))
        collector.kill()
        kills += 1
        # Mid-stream means some record had not been sent yet; counting messages instead would count re-sent
        # duplicates and call a run finished early.
        mid_stream += distinct_keys.catch_up() < 2 * N
    distinct_keys.close()
    killing_s = time.monotonic() - started
    # The last run goes to the end.
    collector.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sql = read_all(kafka_bootstrap, topics[0])
        lines = read_all(kafka_bootstrap, topics[1])
        if len({m.key for m in sql}) >= N and len({m.key for m in lines}) >= N:
            break
        time.sleep(2)
    assert collector.stop() == 0
    finishing_s = time.monotonic() - started - killing_s

    produced = len(sql) + len(lines)
    distinct = len({m.key for m in sql}) + len({m.key for m in lines})
    print(f"\ncollector crash test: {kills} kills ({mid_stream} mid-stream), records produced {produced}, "
          f"distinct {distinct}, duplicated {produced - distinct} (source records {2 * N}); "
          f"{killing_s:.0f} s killing, {finishing_s:.0f} s finishing")  # fmt: skip
    assert {m.key for m in sql} == {
        stable_record_id(sql_source, orjson.dumps([i]).decode()) for i in range(1, N + 1)
    }
    seqs = Counter(int(m.value["content"].split("seq=")[1].split(" ")[0]) for m in lines)
    assert set(seqs) == set(range(N))
    assert len({m.key for m in lines}) == N  # a line keeps its id however often it is re-sent
    assert mid_stream >= 5, "most kills should land while records are still flowing"
