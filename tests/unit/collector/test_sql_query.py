"""The keyset predicate as each dialect receives it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, postgresql, sqlite

from services.collector.adapters.sql import _after

DIALECTS: dict[str, Any] = {
    "postgresql": postgresql.dialect,
    "sqlite": sqlite.dialect,
    "mssql": mssql.dialect,
}


def compiled(dialect: Any, n_columns: int) -> str:
    table = sa.table("t", sa.column("ts"), sa.column("a"), sa.column("b"))
    order = [table.c.ts, table.c.a, table.c.b][:n_columns]
    last = ("2026-01-01", 1, 2)[:n_columns]
    return str(_after(order, last, dialect.name).compile(dialect=dialect))


def test_row_comparison_where_the_planner_seeks_an_index_for_it() -> None:
    assert compiled(DIALECTS["postgresql"](), 2) == "(t.ts, t.a) > (%(param_1)s, %(param_2)s)"
    assert compiled(DIALECTS["sqlite"](), 3) == "(t.ts, t.a, t.b) > (?, ?, ?)"


def test_portable_expansion_elsewhere() -> None:
    sql = compiled(DIALECTS["mssql"](), 2)
    assert sql == "t.ts >= :param_1 AND (t.ts > :param_1 OR t.a > :param_2)"


def test_a_single_order_column_is_a_plain_comparison() -> None:
    assert compiled(DIALECTS["sqlite"](), 1) == "t.ts > ?"
