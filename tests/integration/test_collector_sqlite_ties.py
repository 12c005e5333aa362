"""SQLite keeps timestamps as text in whatever form the writer used: the cursor must still keep ties."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from services.collector.adapters.sql import SqlSource
from services.collector.core.config import SqlSourceConfig
from services.collector.core.items import Emit

pytestmark = pytest.mark.integration


def test_text_timestamps_without_microseconds_lose_no_tie_rows(tmp_path: Path) -> None:
    db = tmp_path / "tickets.db"
    base = dt.datetime(2026, 1, 1)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT, updated_at DATETIME)")
        # Written as '2026-01-01 00:00:00' (no microseconds): SQLAlchemy's typed DateTime would bind
        # '2026-01-01 00:00:00.000000', which compares as a different string.
        conn.executemany(
            "INSERT INTO tickets VALUES (?, ?, ?)",
            [(i, f"s{i}", (base + dt.timedelta(seconds=i // 3)).isoformat(sep=" ")) for i in range(1, 2001)],
        )
    config = SqlSourceConfig.model_validate(
        {"kind": "sql", "name": "tickets", "url": f"sqlite:///{db}", "table": "tickets",
         "cursor": "updated_at", "batch_size": 7}
    )  # fmt: skip
    source = SqlSource(config)
    source.open({})
    items = [i for i in source.poll() if isinstance(i, Emit)]
    assert len(items) == 2000 and len({i.key for i in items}) == 2000
    # resuming from a checkpoint in the middle of a tie group reads exactly the rest
    resumed = SqlSource(config)
    resumed.open({"cursor": items[1000].position[1]})
    rest = [i for i in resumed.poll() if isinstance(i, Emit)]
    assert [i.key for i in rest] == [i.key for i in items[1001:]]
    source.close()
    resumed.close()
