"""Poison at every stage (issue 16, item 4): collector, sanitizer and writer as real processes reading a
real SQLite table and a JSON log file, plus poison produced straight onto a raw topic and a forged
``TrainingCompleted`` for the evaluator.

Each poison must land in its stage's dead-letter topic with a reason, every good record must be stored
exactly once, the consumer groups must catch up (lag 0) and no process may exit.

Two cases of the issue's list are not dead letters by design, or cannot be injected:
- invalid UTF-8 in a log line is decoded with U+FFFD and the record kept, flagged
  ``metadata.decode_errors`` (services/collector/core/logs.py ``decode``): checked as a good record;
- "a recognizer that raises": the sanitizer's policy has no custom recognizer or deny-list pattern
  (config/sanitizer.yaml, services/sanitizer/core/policy.py), so no configuration can make one raise;
  that case is left out (the stream's ``internal_error`` dead letter covers it in code).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from libs.common.kafka import (
    client_config,
    consumer_config,
    ensure_topics,
    plaintext_settings,
    producer_config,
)
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.registry import ModelRegistry
from libs.schemas import RunStatus, TrainingCompleted
from libs.storage.runs import read_run
from tests.integration.collector_helpers import Message, read_all
from tests.integration.pipeline_helpers import ROOT, ServiceProcess, sanitizer_env
from tests.reliability.chain import lag

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]

GOOD_LINES = 20
GOOD_ROWS = 15
DEPTH = 40  # DynamoDB takes 32 levels


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def write_sources(folder: Path) -> tuple[Path, Path]:
    """A JSON log file (good lines, one not JSON, one with invalid UTF-8, one nested 40 levels) and an
    SQLite table (good rows and one 5 MB row)."""
    words = ["export", "billing", "archive", "session", "upload", "report", "backup", "invoice", "queue"]
    lines = [
        orjson.dumps(
            {
                "ts": f"2026-12-06T10:00:{i:02d}Z",
                "level": "INFO",
                "message": f"job {words[i % 9]} number {i} handled {i * 37 % 101} {words[(i * 5) % 9]} items "
                f"for tenant {chr(97 + i)}{i} in {i + 3} seconds",
            }
        )  # fmt: skip
        for i in range(GOOD_LINES)
    ]
    lines.insert(5, b"this line is not JSON {oops")
    bad_utf8 = b'{"level": "WARN", "message": "caf\xe9 order \xff\xfe failed for tenant zed in the run"}'
    lines.insert(9, bad_utf8)
    deep = {"level": "ERROR", "message": "a payload nested far too deep for DynamoDB", "deep": nested(DEPTH)}
    lines.insert(14, orjson.dumps(deep))
    log_file = folder / "app.log"
    log_file.write_bytes(b"\n".join(lines) + b"\n")

    db = folder / "orders.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, note TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            ((i, f"customer {i}", f"order {i} shipped to warehouse {i % 4} with {i * 3} parcels")
             for i in range(1, GOOD_ROWS + 1)),
        )  # fmt: skip
        conn.execute("INSERT INTO orders VALUES (?, ?, ?)", (1000, "customer huge", "x" * 5_000_000))
    return log_file, db


def messages_in(bootstrap: str, topic: str) -> int:
    consumer = Consumer(client_config(plaintext_settings(bootstrap), {"group.id": "count-probe"}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        marks = [consumer.get_watermark_offsets(tp, timeout=10) for tp in parts]
        return sum(high - low for low, high in marks)
    finally:
        consumer.close()


def stored_ids(client: Any, table: str) -> list[str]:
    ids: list[str] = []
    try:
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            ids.extend(item["id"]["S"] for item in page.get("Items", []))
    except client.exceptions.ResourceNotFoundException:
        return []
    return ids


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(plaintext_settings(bootstrap)))
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


class InProcessEvaluator:
    """The evaluator's Kafka worker in this process, on the real broker and DynamoDB: a forged event is
    judged on the runs table before any model is loaded, so the process (torch, the drift thread) is
    not needed for it."""

    def __init__(self, bootstrap: str, client: Any, prefix: str, ns: str, work_dir: Path) -> None:
        from services.evaluator.adapters.evaluations import Evaluations
        from services.evaluator.core.config import load_config
        from services.evaluator.worker import EvaluationWorker

        shared = plaintext_settings(bootstrap)
        self.events, self.dlq, self.group = f"{ns}.training.events", f"{ns}.evaluator.dlq", f"{ns}.evaluator"
        ensure_topics(shared, {self.events: 1, self.dlq: 1})
        self.worker = EvaluationWorker(
            Consumer(consumer_config(shared, self.group, {"enable.auto.commit": False})),
            Producer(producer_config(shared)),
            ModelRegistry(client, prefix),
            None,
            load_config(ROOT / "config" / "evaluator.yaml"),
            work_dir,
            self.events,
            self.dlq,
            runs=lambda run_id: read_run(client, prefix, run_id),
            evaluations=Evaluations(client, prefix),
        )
        self.failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test
            self.failure.append(exc)

    def stop(self) -> None:
        self.worker.stopping.set()
        self.thread.join(30)


def test_poison_at_every_stage_is_dead_lettered_and_the_pipeline_keeps_going(
    kafka_bootstrap: str,
    dynamodb_endpoint: str,
    dynamodb_client: Any,
    namespace: str,
    services: list[ServiceProcess],
    unique_id: str,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    ns, bootstrap = namespace, kafka_bootstrap
    log_file, db = write_sources(tmp_path)
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [
        {"kind": "log", "name": "applog", "paths": [str(log_file)], "parser": "json", "poll_interval_s": 0.2},
        {"kind": "sql", "name": "orders", "url": f"sqlite:///{db}", "table": "orders",
         "poll_interval_s": 0.2},
    ]}))  # fmt: skip
    policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
    policy["names"]["enabled"] = False  # names are not what this test is about; saves the spaCy load
    policy["dedup"]["near"]["enabled"] = False  # the good lines look alike; none may be dropped as a copy
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    common = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNELINE_NAMESPACE": ns,
        "TUNELINE_KAFKA_BOOTSTRAP": bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_HOME": str(tmp_path / "home"),
    }
    collector = ServiceProcess(
        "collector",
        {**common, "TUNELINE_COLLECTOR_CONFIG_FILE": str(sources),
         "TUNELINE_COLLECTOR_HTTP_PORT": str(free_port()), "TUNELINE_COLLECTOR_CHECKPOINT_INTERVAL_S": "0.2"},
        tmp_path / "collector.log", tmp_path,
    )  # fmt: skip
    sanitizer = ServiceProcess(
        "sanitizer",
        {**sanitizer_env(bootstrap, unique_id, tmp_path / "faust"),
         **{k: v for k, v in common.items() if k.startswith(("TUNELINE_", "AWS_"))},
         "TUNELINE_SANITIZER_CONFIG_FILE": str(tmp_path / "policy.yaml")},
        tmp_path / "sanitizer.log", tmp_path,
    )  # fmt: skip
    writer = ServiceProcess(
        "writer",
        {**common, "TUNELINE_WRITER_HTTP_PORT": str(free_port()), "TUNELINE_WRITER_TOPIC_PARTITIONS": "2",
         "TUNELINE_WRITER_BATCH_MAX_WAIT_S": "0.5"},
        tmp_path / "writer.log", tmp_path,
    )  # fmt: skip
    raw_topics = [f"{ns}.raw.applog", f"{ns}.raw.orders"]
    raw_dlq, sanitizer_dlq, writer_dlq = f"{ns}.raw.dlq", f"{ns}.raw.dlq.sanitizer", f"{ns}.writer.dlq"

    # 1. The collector first: both raw topics exist before the sanitizer resolves its input pattern.
    services.append(collector.start())
    raw: dict[str, list[Message]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert collector.alive(), collector.log()[-3000:]
        raw = {t: read_all(bootstrap, t) for t in raw_topics}
        if len(raw[raw_topics[0]]) >= GOOD_LINES + 2 and len(raw[raw_topics[1]]) >= GOOD_ROWS:
            break
        time.sleep(0.5)
    deep_ids = [m.key for m in raw[raw_topics[0]] if "deep" in m.value["fields"]]
    flagged = [m.key for m in raw[raw_topics[0]] if m.value["metadata"].get("decode_errors")]
    assert len(deep_ids) == 1 and len(flagged) == 1, collector.log()[-3000:]
    good = {m.key for t in raw_topics for m in raw[t]} - set(deep_ids)
    assert len(good) == GOOD_LINES + 1 + GOOD_ROWS

    # 2. Poison produced straight onto a raw topic: not JSON, and a record of a schema version to come.
    future = dict(raw[raw_topics[0]][0].value, id="applog:from-the-future", schema_version=99)
    produce(bootstrap, raw_topics[0], [(b"poison-not-json", b"\x00\x01 not json at all"),
                                       (b"poison-version", orjson.dumps(future))])  # fmt: skip
    services.extend([sanitizer.start(), writer.start()])

    # 3. A forged TrainingCompleted, for a run the runs table has never seen (the writer creates the
    # namespace's tables at start).
    prefix = f"{ns}.tuneline-"
    deadline = time.monotonic() + 60
    while f"{prefix}runs" not in dynamodb_client.list_tables()["TableNames"] and time.monotonic() < deadline:
        assert writer.alive(), writer.log()[-3000:]
        time.sleep(0.5)
    evaluator = InProcessEvaluator(bootstrap, dynamodb_client, prefix, ns, tmp_path / "evaluator")
    forged = TrainingCompleted(
        run_id="general-forged", dataset="general", occurred_at=dt.datetime.now(dt.UTC),
        status=RunStatus.SUCCEEDED, base_model="tuneline/tiny-llama", model_uri="s3://attacker/model",
        record_count=1,
    )  # fmt: skip
    produce(bootstrap, evaluator.events, [(b"general-forged", forged.model_dump_json().encode())])
    injected_at = time.monotonic()

    # 4. Until every good record is stored and every group has caught up.
    table = f"{prefix}records"
    groups = {
        f"{ns}.tuneline-sanitizer": raw_topics,
        f"{ns}.tuneline-writer": [f"{ns}.sanitized.records"],
        evaluator.group: [evaluator.events],
    }
    ids: list[str] = []
    lags: dict[str, int] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for service in (collector, sanitizer, writer):
            assert service.alive(), f"the {service.name} exited:\n{service.log()[-4000:]}"
        assert not evaluator.failure, evaluator.failure
        ids = stored_ids(dynamodb_client, table)
        if set(ids) >= good:
            lags = {group: lag(bootstrap, group, topics) for group, topics in groups.items()}
            if not any(lags.values()):
                break
        time.sleep(1)
    recovered_s = time.monotonic() - injected_at
    time.sleep(3)  # a little longer: nothing else may be stored, nothing else dead-lettered
    ids = stored_ids(dynamodb_client, table)
    evaluator.stop()
    dlqs = (raw_dlq, sanitizer_dlq, writer_dlq, evaluator.dlq)
    letters = {topic: read_all(bootstrap, topic) for topic in dlqs}
    reasons = {topic: sorted(m.value["reason"] for m in found) for topic, found in letters.items()}

    produced = sum(messages_in(bootstrap, t) for t in raw_topics)
    dead = sum(len(found) for found in letters.values())
    lost = len(good - set(ids))
    twice = len(ids) - len(set(ids))
    print(
        f"\npoison at every stage: inputs {GOOD_LINES + 3} log lines + {GOOD_ROWS + 1} rows + 2 raw messages "
        f"+ 1 forged event; produced to raw {produced}; stored {len(ids)} (good {len(good)}); dead-lettered "
        f"{dead} {reasons}; lost {lost}; stored twice {twice}; lag {lags}; time to recover "
        f"{recovered_s:.1f} s (from the last injection to all stored, lag 0); total "
        f"{time.monotonic() - started:.0f} s"
    )  # noqa: T201
    for service in (collector, sanitizer, writer):
        assert service.alive(), f"the {service.name} exited:\n{service.log()[-4000:]}"
    assert lost == 0 and twice == 0 and set(ids) == good, writer.log()[-3000:]
    assert not any(lags.values()), lags
    assert reasons == {
        raw_dlq: ["record_too_large", "unparseable_line"],
        sanitizer_dlq: ["invalid_record", "not_json"],
        writer_dlq: ["nested_too_deep"],
        evaluator.dlq: ["unknown_run"],
    }, sanitizer.log()[-3000:]
    for topic, found in letters.items():
        assert all(m.value["detail"] for m in found), topic  # each with a reason and its detail
    by_reason = {m.value["reason"]: m.value for found in letters.values() for m in found}
    assert by_reason["record_too_large"]["where"]["table"] == "orders"
    assert by_reason["unparseable_line"]["where"]["path"] == str(log_file)
    assert by_reason["nested_too_deep"]["source_topic"] == f"{ns}.sanitized.records"
    assert by_reason["unknown_run"]["detail"] == "no run 'general-forged' in the runs table"
    assert read_run(dynamodb_client, prefix, "general-forged") is None  # nothing evaluated or recorded
    # The line with invalid UTF-8 is kept, its bad bytes replaced.
    item = dynamodb_client.get_item(TableName=table, Key={"id": {"S": flagged[0]}})["Item"]
    assert "\ufffd" in item["content"]["S"]
