"""A SQLite table whose timestamp column is declared TEXT: refused clearly, or read with ``cursor_type``."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from services.collector.adapters.sql import SqlSource
from services.collector.core.config import SqlSourceConfig
from services.collector.core.errors import ConfigError
from services.collector.core.items import Emit

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = tmp_path / "helpdesk.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, updated_at TEXT)")
        conn.executemany(
            "INSERT INTO tickets VALUES (?, ?, ?)",
            [
                (1, "old, ISO with T", "2026-03-01T11:00:00"),
                (2, "old, with a space", "2026-03-01 11:59:00.250"),
                (3, "old, with an offset", "2026-03-01T13:59:00+02:00"),
                (4, "inside the lag", "2026-03-01T11:59:45"),
                (5, "inside the lag, offset", "2026-03-01T12:59:50+01:00"),
            ],
        )
    return f"sqlite:///{path}"


def _source(url: str, **extra: Any) -> SqlSource:
    config = SqlSourceConfig.model_validate(
        {"kind": "sql", "name": "tickets", "url": url, "table": "tickets", "cursor": "updated_at",
         "key": ["id"], "lag_s": 30, **extra}
    )  # fmt: skip
    return SqlSource(config, clock=lambda: NOW)


def test_a_text_column_with_lag_s_is_refused_naming_cursor_type(database: str) -> None:
    source = _source(database)
    with pytest.raises(ConfigError, match="'lag_s' needs a timestamp cursor.*cursor_type: timestamp"):
        source.open({})


def test_cursor_type_timestamp_reads_text_timestamps_older_than_the_lag(database: str) -> None:
    source = _source(database, cursor_type="timestamp")
    source.open({})
    ids = [orjson.loads(item.value)["fields"]["id"] for item in source.poll() if isinstance(item, Emit)]
    source.close()
    assert sorted(ids) == [1, 2, 3]


def test_cursor_type_timestamp_refuses_a_column_that_cannot_hold_one(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'n.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE tickets (id INTEGER PRIMARY KEY, updated_at INTEGER)"))
    source = _source(str(engine.url), cursor_type="timestamp")
    with pytest.raises(ConfigError, match="cursor_type: timestamp.*updated_at"):
        source.open({})
