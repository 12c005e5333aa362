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

from libs.schemas.names import raw_topic
from libs.schemas.records import stable_record_id
from tests.integration.collector_helpers import Collector, read_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 50_000


def end_offsets(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` so far (0 while it does not exist or has no leader yet)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-probe"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions
        )
    except KafkaException:
        return 0
    finally:
        consumer.close()


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
    while kills < 10:
        before = sum(end_offsets(kafka_bootstrap, t) for t in topics)
        collector.start()
        deadline = time.monotonic() + 60
        while sum(end_offsets(kafka_bootstrap, t) for t in topics) == before and time.monotonic() < deadline:
            time.sleep(0.05)  # wait for this run to produce something, then kill it at a random moment
        time.sleep(rng.uniform(0.0, 0.4))
        collector.kill()
        kills += 1
        after = sum(end_offsets(kafka_bootstrap, t) for t in topics)
        mid_stream += after < 2 * N
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

    produced = len(sql) + len(lines)
    distinct = len({m.key for m in sql}) + len({m.key for m in lines})
    print(f"\ncollector crash test: {kills} kills ({mid_stream} mid-stream), records produced {produced}, "
          f"distinct {distinct}, duplicated {produced - distinct} (source records {2 * N})")  # fmt: skip
    assert {m.key for m in sql} == {
        stable_record_id(sql_source, orjson.dumps([i]).decode()) for i in range(1, N + 1)
    }
    seqs = Counter(int(m.value["content"].split("seq=")[1].split(" ")[0]) for m in lines)
    assert set(seqs) == set(range(N))
    assert len({m.key for m in lines}) == N  # a line keeps its id however often it is re-sent
    assert mid_stream >= 5, "most kills should land while records are still flowing"
