"""The collector process against a real broker, a real PostgreSQL server, SQLite and real log files."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from libs.devstack.servers import free_port
from libs.schemas import DeadLetter
from libs.schemas.names import raw_topic
from libs.schemas.records import stable_record_id
from tests.integration.collector_helpers import Collector, read_all, wait_for_ids
from tests.integration.collector_http_app import make_records, serve_api

MakeCollector = Callable[[list[dict[str, Any]]], Collector]

pytestmark = pytest.mark.integration


def sql_ids(source: str, keys: range | list[int]) -> set[str]:
    return {stable_record_id(source, orjson.dumps([k]).decode()) for k in keys}


def assert_exactly_once(messages: list[Any]) -> None:
    counts = Counter(m.key for m in messages)
    duplicated = {k: n for k, n in counts.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} ids arrived more than once"


def test_sql_sources_collect_every_row_once_with_ties_late_commits_and_restart(
    kafka_bootstrap: str, postgres_url: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    pg_table, pg_source, lite_source = f"tickets_{unique_id}", f"pg-{unique_id}", f"lite-{unique_id}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE {pg_table} (id serial PRIMARY KEY, subject text, body text, amount numeric(12,2),"
            " ref uuid, blob bytea, updated_at timestamptz NOT NULL)"
        ))  # fmt: skip
        # Groups of seven rows share a timestamp and the batch size is 50: batches end inside groups.
        base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        conn.execute(
            sa.text(f"INSERT INTO {pg_table} (subject, body, amount, ref, blob, updated_at)"
                    " VALUES (:s, :b, :a, :r, :blob, :t)"),
            [{"s": f"subject {i}", "b": f"body {i}", "a": f"{i}.25", "r": uuid.uuid4(), "blob": b"\x00\xff",
              "t": base + dt.timedelta(seconds=i // 7)} for i in range(1000)],
        )  # fmt: skip
    lite_path = tmp_path / "crm.db"
    with sqlite3.connect(lite_path) as lite:
        lite.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, note TEXT)")
        lite.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?)", [(i, f"n{i}", f"note {i}") for i in range(1, 501)]
        )

    sources = [
        {"kind": "sql", "name": pg_source, "url": postgres_url, "table": pg_table, "cursor": "updated_at",
         "lag_s": 2.0, "batch_size": 50, "poll_interval_s": 0.2, "content_template": "{subject}\n{body}"},
        {"kind": "sql", "name": lite_source, "url_env": "LITE_URL", "table": "contacts",
         "poll_interval_s": 0.2},
    ]  # fmt: skip
    collector = make_collector(sources)
    collector.start(LITE_URL=f"sqlite:///{lite_path}")
    pg_topic, lite_topic = raw_topic(pg_source), raw_topic(lite_source)
    wait_for_ids(kafka_bootstrap, pg_topic, sql_ids(pg_source, range(1, 1001)), collector=collector)
    wait_for_ids(kafka_bootstrap, lite_topic, sql_ids(lite_source, range(1, 501)), collector=collector)

    # A late commit: row A takes its timestamp, row B commits after it with a newer one, then A commits.
    # A cursor without the lag window would pass A's timestamp before A is visible.
    late = engine.connect()
    tx = late.begin()
    late.execute(
        sa.text(f"INSERT INTO {pg_table} (subject, body, updated_at) VALUES ('late', 'a', clock_timestamp())")
    )
    time.sleep(0.3)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {pg_table} (subject, body, updated_at) VALUES ('early', 'b', clock_timestamp())"
            )
        )
    time.sleep(0.7)
    tx.commit()
    late.close()
    messages = wait_for_ids(
        kafka_bootstrap, pg_topic, sql_ids(pg_source, range(1, 1003)), collector=collector
    )
    assert collector.stop() == 0

    # Restart after a clean stop: only new rows are sent, nothing twice.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {pg_table} (subject, body, updated_at) VALUES ('after', 'c', clock_timestamp())"
            )
        )
    with sqlite3.connect(lite_path) as lite:
        lite.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?)", [(i, f"n{i}", f"note {i}") for i in range(501, 601)]
        )
    collector.start(LITE_URL=f"sqlite:///{lite_path}")
    messages = wait_for_ids(
        kafka_bootstrap, pg_topic, sql_ids(pg_source, range(1, 1004)), collector=collector
    )
    lite_messages = wait_for_ids(
        kafka_bootstrap, lite_topic, sql_ids(lite_source, range(1, 601)), collector=collector
    )
    assert collector.stop() == 0
    messages = read_all(kafka_bootstrap, pg_topic)
    assert len(messages) == 1003 and len(lite_messages) == 600
    assert_exactly_once(messages)
    assert_exactly_once(lite_messages)

    first = next(m for m in messages if m.value["fields"]["id"] == 8)
    assert first.value["content"] == "subject 7\nbody 7"
    assert first.value["fields"]["amount"] == 7.25
    assert uuid.UUID(first.value["fields"]["ref"])
    assert base64.b64decode(first.value["fields"]["blob"]) == b"\x00\xff"
    assert dt.datetime.fromisoformat(first.value["fields"]["updated_at"]).tzinfo is not None
    assert first.headers == {"source": pg_source.encode(), "kind": b"sql", "schema_version": b"1"}
    assert first.value["metadata"] == {"table": pg_table, "key": {"id": 8}}


def write_records(path: Path, start: int, count: int, trace_every: int = 5) -> None:
    """Append ``count`` log records; every ``trace_every``-th has a three-line stack trace."""
    with open(path, "a") as f:
        for seq in range(start, start + count):
            f.write(f"2026-11-25T10:00:00Z ERROR seq={seq} request failed\n")
            if seq % trace_every == 0:
                f.write('Traceback (most recent call last):\n  File "app.py", line 3\nValueError: boom\n')


def seqs(messages: list[Any]) -> Counter[int]:
    found: Counter[int] = Counter()
    for m in messages:
        content = m.value["content"]
        seq = int(content.split("seq=", 1)[1].split(" ", 1)[0])
        found[seq] += 1
        if seq % 5 == 0 and seq < 1200:  # written with a stack trace
            assert content.endswith("ValueError: boom"), "a stack trace was not joined to its record"
            assert m.value["metadata"]["lines"] == 4
    return found


def test_log_files_survive_rename_and_copytruncate_rotation_while_tailed(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    source = f"app-{unique_id}"
    collector = make_collector([
        {"kind": "log", "name": source, "paths": [str(logs / "app.log*")], "exclude": ["*.gz"],
         "poll_interval_s": 0.1, "multiline": {"start_pattern": r"^\d{4}-", "flush_after_s": 0.3}},
    ]).start()  # fmt: skip
    topic = raw_topic(source)

    seq = 0
    stop_writing = threading.Event()

    def write_steadily(until: int) -> None:
        nonlocal seq
        while seq < until and not stop_writing.is_set():
            write_records(app, seq, 10)
            seq += 10
            time.sleep(0.01)

    write_steadily(400)
    app.rename(logs / "app.log.1")  # rotation by rename while the collector may be mid-file
    write_records(logs / "app.log.1", seq, 10)  # a late write to the old file
    seq += 10
    write_steadily(800)
    shutil.copyfile(app, logs / "app.log.2")  # rotation by copytruncate
    with open(app, "r+") as f:
        f.truncate(0)
    write_steadily(1200)
    (logs / "app.log.3.gz").write_bytes(b"\x1f\x8b not text")  # excluded
    with open(app, "ab") as binary:
        binary.write(b"2026-11-25T10:00:01Z WARN seq=1200 bad bytes \xff\xfe here\n")

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = seqs(read_all(kafka_bootstrap, topic))
        if len(found) == 1201:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{1201 - len(found)} records never arrived\n{collector.log()[-3000:]}")
    assert collector.stop() == 0

    # After a clean stop and restart only what was appended meanwhile is sent.
    write_records(app, 1201, 9, trace_every=1000)
    collector.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found := seqs(read_all(kafka_bootstrap, topic))) < 1210:
        time.sleep(0.5)
    assert collector.stop() == 0
    messages = read_all(kafka_bootstrap, topic)
    found = seqs(messages)
    assert set(found) == set(range(1210))
    assert max(found.values()) == 1, "a record was sent twice"
    assert_exactly_once(messages)
    bad = next(m for m in messages if "seq=1200" in m.value["content"])
    assert bad.value["metadata"]["decode_errors"] is True and "\ufffd" in bad.value["content"]


def test_bad_input_goes_to_the_dead_letter_topic_and_a_broken_source_stops_nothing(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        orjson.dumps({"message": "user signed in", "level": "info"}),
        b"this is not json",
        b"[1, 2, 3]",
        orjson.dumps({"message": "x" * 5000}),
        orjson.dumps({"message": "user signed out", "level": "info"}),
    ]
    events.write_bytes(b"\n".join(lines) + b"\n")
    good, broken = f"events-{unique_id}", f"down-{unique_id}"
    collector = make_collector([
        {"kind": "log", "name": good, "paths": [str(events)], "parser": "json", "max_record_bytes": 2048,
         "poll_interval_s": 0.1},
        # Nothing listens on this port: the source fails on every pass and is retried with backoff.
        {"kind": "sql", "name": broken, "url": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
         "table": "t", "poll_interval_s": 0.1},
    ]).start()  # fmt: skip
    deadline = time.monotonic() + 60
    records: list[Any] = []
    dead: list[Any] = []
    while time.monotonic() < deadline and (len(records) < 2 or len(dead) < 3):
        records = read_all(kafka_bootstrap, raw_topic(good))
        dead = read_all(kafka_bootstrap, collector.dlq_topic)
        time.sleep(0.3)
    assert collector.alive(), collector.log()[-3000:]
    assert sorted(r.value["content"] for r in records) == ["user signed in", "user signed out"]
    reasons = sorted((d.value["reason"], d.value["where"]["offset"]) for d in dead)
    offsets = [0, *(sum(len(line) + 1 for line in lines[:i]) for i in range(1, len(lines)))]
    assert reasons == [
        ("record_too_large", offsets[3]),
        ("unparseable_line", offsets[1]),
        ("unparseable_line", offsets[2]),
    ]
    assert all(d.headers["reason"] == d.value["reason"].encode() for d in dead)
    assert dead[0].value["source"] == good and dead[0].value["where"]["path"] == str(events)
    letters = sorted(
        (DeadLetter.model_validate(d.value) for d in dead), key=lambda x: str(x.where["offset"]).zfill(9)
    )
    assert all(d.headers["service"] == b"collector" and d.key == good for d in dead)
    assert [x.value.raw() if x.value else None for x in letters] == [lines[1], lines[2], None]
    assert letters[2].where["kind"] == "log" and letters[2].source_topic is None
    deadline = time.monotonic() + 60  # the broken source is retried with backoff: wait for its warning
    while "source pass failed" not in collector.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "source pass failed" in collector.log() and broken in collector.log()
    assert collector.stop() == 0


def test_config_errors_name_the_source_and_field(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    collector = make_collector([
        {"kind": "sql", "name": "orders", "url": "sqlite://", "table": "t", "batch_size": 0},
    ]).start()  # fmt: skip
    assert collector.proc is not None
    assert collector.proc.wait(60) == 2
    assert "source 'orders' (sql), field 'batch_size'" in collector.log()


def test_http_api_records_arrive_once_through_faults_and_restart(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    token_file = tmp_path / "api-token"
    token_file.write_text("s3cret-token\n")
    source = f"api-{unique_id}"
    with serve_api(make_records(157), token="s3cret-token") as api:
        api.state.fail(503, times=2, retry_after="0")  # the first requests fail and are retried
        collector = make_collector([
            {"kind": "http", "name": source, "url": api.url("/cursor"), "records_path": "/items",
             "auth": {"type": "bearer", "token_file": str(token_file)}, "id_path": "/id",
             "content_template": "{subject}\n{body}", "poll_interval_s": 0.2,
             "pagination": {"style": "cursor", "cursor_path": "/next_cursor", "size_param": "limit",
                            "page_size": 20},
             "incremental": {"field_path": "/updated_at", "param": "since"}},
        ]).start()  # fmt: skip
        topic = raw_topic(source)
        ids = {stable_record_id(source, f"T-{i:06d}") for i in range(157)}
        wait_for_ids(kafka_bootstrap, topic, ids, collector=collector)
        assert collector.stop() == 0
        api.state.add(make_records(20, start=157))
        collector.start()
        ids |= {stable_record_id(source, f"T-{i:06d}") for i in range(157, 177)}
        wait_for_ids(kafka_bootstrap, topic, ids, collector=collector)
        time.sleep(1.0)  # a few more passes: they must find nothing new
        assert collector.stop() == 0
    messages = read_all(kafka_bootstrap, topic)
    assert {m.key for m in messages} == ids
    assert_exactly_once(messages)
    assert 503 in api.state.statuses
    assert "s3cret-token" not in collector.log()
    record = next(m.value for m in messages if m.value["fields"]["id"] == "T-000005")
    assert record["content"] == "Ticket 5: VPN drops\nThe VPN drops every 5 minutes."
    assert record["kind"] == "http" and "token" not in str(record["metadata"])
