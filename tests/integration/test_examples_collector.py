"""The real collector, configured by examples/sources.yaml, reads the three example systems: every ticket
row (a trickle included), every log entry across rotations, every knowledge-base article and an edit."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from examples import SOURCES_FILE, start_example_systems
from examples.helpdesk import HelpDesk
from libs.schemas.names import raw_topic
from libs.schemas.records import RawRecord
from services.collector.adapters.sql import SqlSource
from services.collector.core.config import SqlSourceConfig
from services.collector.core.items import Emit
from tests.integration.collector_helpers import Collector, Message, read_all

pytestmark = pytest.mark.integration

TICKETS = 60
MakeCollector = Callable[[list[dict[str, Any]]], Collector]


def wait_for(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Message]], bool],
    collector: Collector,
    timeout_s: float = 120,
) -> list[Message]:
    deadline = time.monotonic() + timeout_s
    messages: list[Message] = []
    while time.monotonic() < deadline:
        messages = read_all(bootstrap, topic)
        if done(messages):
            return messages
        assert collector.alive(), collector.log()[-4000:]
        time.sleep(0.5)
    raise AssertionError(f"{topic}: {len(messages)} messages\n{collector.log()[-4000:]}")


def test_collector_reads_every_example_system(
    kafka_bootstrap: str, unique_id: str, tmp_path: Path, make_collector: MakeCollector
) -> None:
    systems = start_example_systems(
        tmp_path / "systems",
        tickets=TICKETS,
        log_lines=150,
        log_rate=50,
        log_max_bytes=6 * 1024,  # several rotations while the collector reads
        trickle_interval_s=1.0,
        trickle_steps=3,
    )
    try:
        # The shipped sources file as it is, with per-test source (topic) names.
        sources: list[dict[str, Any]] = yaml.safe_load(SOURCES_FILE.read_text())["sources"]
        names = {s["name"]: f"{s['name']}-{unique_id}" for s in sources}
        for source in sources:
            source["name"] = names[source["name"]]
        collector = make_collector(sources).start(**systems.env)
        topics = {name: raw_topic(renamed) for name, renamed in names.items()}

        systems.trickle.join(30)  # type: ignore[union-attr]
        tickets = wait_for(
            kafka_bootstrap,
            topics["support"],
            lambda m: len({x.key for x in m}) >= TICKETS + 3,
            collector,
        )
        rows = {x.value["fields"]["id"]: x.value for x in tickets}
        assert sorted(rows) == list(range(1, TICKETS + 4))  # every row, the trickle's 3 included
        assert len({x.key for x in tickets}) == TICKETS + 3
        first = rows[1]["fields"]
        assert rows[1]["content"] == f"{first['subject']}\n\n{first['question']}\n\n{first['answer']}"

        systems.wait_for_logs(60)
        written = len(systems.logs.written)
        assert systems.logs.rotations >= 2 and systems.logs.deleted_files == 0
        logs = wait_for(
            kafka_bootstrap, topics["app-logs"], lambda m: len({x.key for x in m}) >= written, collector
        )
        contents = {x.value["content"] for x in logs}
        assert len({x.key for x in logs}) == written
        expected = {e.text.split(" ", 2)[2].rstrip("\n") for e in systems.logs.written}
        assert contents == expected  # stack traces joined, nothing split or lost across rotations

        articles = wait_for(
            kafka_bootstrap, topics["wiki"], lambda m: len({x.key for x in m}) >= 25, collector
        )
        assert len({x.key for x in articles}) == 25
        systems.kb.kb.edit("KB-1005", "Rewritten resolution.", now=dt.datetime.now(dt.UTC))
        edited = wait_for(
            kafka_bootstrap,
            topics["wiki"],
            lambda m: any(x.value["fields"].get("version") == 2 for x in m),
            collector,
        )
        assert {x.key for x in edited} == {x.key for x in articles}  # the same record id, a new version
        assert collector.stop() == 0
    finally:
        systems.stop()


def test_helpdesk_on_postgresql_read_by_the_sql_source(postgres_url: str, unique_id: str) -> None:
    """The same tables on PostgreSQL (its own database), read by the collector's SQL source as
    examples/sources.yaml configures it."""
    database = f"helpdesk_{unique_id}".replace("-", "_").lower()
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    url = sa.make_url(postgres_url).set(database=database).render_as_string(hide_password=False)
    desk = HelpDesk(url, seed=11)
    made = desk.create(50, anchor=dt.datetime.now(dt.UTC))
    desk.add(2, now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10))
    desk.close()

    config = yaml.safe_load(SOURCES_FILE.read_text())["sources"][0]
    del config["url_env"]
    source = SqlSource(SqlSourceConfig.model_validate({**config, "url": url}))
    source.open({})
    try:
        items = list(source.poll())
    finally:
        source.close()
    records = [RawRecord.model_validate_json(i.value) for i in items if isinstance(i, Emit)]
    assert len(records) == len(items) == 52
    assert [r.fields["id"] for r in records] == list(range(1, 53))
    assert records[0].fields["question"] == made[0].question
    assert records[0].content.endswith(made[0].answer)
