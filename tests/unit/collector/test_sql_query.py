"""The keyset predicate as each dialect receives it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, postgresql, sqlite

from services.collector.adapters.sql import _after


def compiled(dialect: sa.engine.Dialect, n_columns: int) -> str:
    table = sa.table("t", sa.column("ts"), sa.column("a"), sa.column("b"))
    order = [table.c.ts, table.c.a, table.c.b][:n_columns]
    last = ("2026-01-01", 1, 2)[:n_columns]
    return str(_after(order, last, dialect.name).compile(dialect=dialect))


def test_row_comparison_where_the_planner_seeks_an_index_for_it() -> None:
    assert compiled(postgresql.dialect(), 2) == "(t.ts, t.a) > (%(param_1)s, %(param_2)s)"
    assert compiled(sqlite.dialect(), 3) == "(t.ts, t.a, t.b) > (?, ?, ?)"


def test_portable_expansion_elsewhere() -> None:
    sql = compiled(mssql.dialect(), 2)
    assert sql == "t.ts >= :param_1 AND (t.ts > :param_1 OR t.a > :param_2)"


def test_a_single_order_column_is_a_plain_comparison() -> None:
    assert compiled(sqlite.dialect(), 1) == "t.ts > ?"
