"""The SQL cursor: rows sharing a timestamp and rows committed late are never skipped."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from services.collector.core.errors import ConversionError
from services.collector.core.sql import CursorPlan, decode_value, encode_value, is_after, upper_bound


@dataclass(frozen=True)
class Row:
    ts: int  # the cursor column (seconds)
    id: int
    committed_at: float  # when the row becomes visible to readers


def read_all(rows: list[Row], poll_times: list[float], batch: int, lag: float, tie_break: bool) -> list[int]:
    """Simulate a source polling a table: each poll pages through the visible rows after its cursor."""
    last: tuple[int, ...] | None = None
    seen: list[int] = []
    for now in poll_times:
        upper = now - lag if lag else None
        while True:
            visible = [r for r in rows if r.committed_at <= now and (upper is None or r.ts <= upper)]
            if tie_break:
                page = sorted(
                    (r for r in visible if is_after((r.ts, r.id), last)), key=lambda r: (r.ts, r.id)
                )
            else:  # the classic bug: `ts > last_ts`
                page = sorted(
                    (r for r in visible if last is None or r.ts > last[0]), key=lambda r: (r.ts, r.id)
                )
            page = page[:batch]
            for r in page:
                seen.append(r.id)
                last = (r.ts, r.id) if tie_break else (r.ts,)
            if len(page) < batch:
                break
    return seen


def tied_rows(n: int, group: int) -> list[Row]:
    return [Row(ts=i // group, id=i, committed_at=0.0) for i in range(n)]


def test_ties_across_batch_boundaries_are_kept_only_with_the_key_tie_break() -> None:
    rows = tied_rows(1000, group=7)  # batches of 50 end in the middle of groups of equal timestamps
    assert sorted(read_all(rows, [1.0], batch=50, lag=0, tie_break=True)) == list(range(1000))
    naive = read_all(rows, [1.0], batch=50, lag=0, tie_break=False)
    assert len(naive) < 1000  # what the tie-break prevents


def test_late_commits_within_the_lag_window_are_read() -> None:
    rng = random.Random(7)
    # Rows take their timestamp when written but become visible up to 3 s later (long transactions).
    rows = [Row(ts=t, id=t, committed_at=t + rng.uniform(0, 3)) for t in range(200)]
    polls = [t * 0.5 for t in range(500)]
    with_lag = read_all(rows, polls, batch=10, lag=5, tie_break=True)
    assert sorted(with_lag) == list(range(200))
    assert len(with_lag) == len(set(with_lag))
    without_lag = read_all(rows, polls, batch=10, lag=0, tie_break=True)
    assert len(set(without_lag)) < 200  # late rows fall behind a cursor that did not wait


def test_order_columns_put_the_cursor_first_and_never_repeat_it() -> None:
    assert CursorPlan("updated_at", ("id",)).order_columns == ("updated_at", "id")
    assert CursorPlan("id", ("id",)).order_columns == ("id",)
    assert CursorPlan("ts", ("tenant", "ts", "n")).order_columns == ("ts", "tenant", "n")


@pytest.mark.parametrize(
    "value",
    [
        7,
        "abc",
        1.5,
        None,
        dt.datetime(2026, 1, 2, 3, 4, 5, 6),
        dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        dt.date(2026, 1, 2),
        Decimal("12.3400"),
        uuid.UUID(int=5),
        b"\x00\xff",
    ],
)
def test_cursor_values_round_trip_with_their_type(value: object) -> None:
    decoded = decode_value(encode_value(value))
    assert decoded == value and type(decoded) is type(value)


def test_a_checkpoint_from_another_configuration_is_refused_clearly() -> None:
    plan = CursorPlan("updated_at", ("id",))
    assert plan.resume_after(["2026-01-01 00:00:00", 5]) == ("2026-01-01 00:00:00", 5)
    assert plan.resume_after(None) is None
    with pytest.raises(ConversionError, match="order columns"):
        plan.resume_after([5])
    with pytest.raises(ConversionError, match="not supported"):
        encode_value(object())


def test_natural_key_is_stable_and_unambiguous() -> None:
    plan = CursorPlan("ts", ("a", "b"))
    assert plan.natural_key(["x|y", "z"]) != plan.natural_key(["x", "y|z"])
    assert plan.natural_key([1, "2"]) != plan.natural_key(["1", 2])
    assert plan.natural_key([dt.date(2026, 1, 2)]) == '[{"date":"2026-01-02"}]'


def test_upper_bound_follows_the_column_kind() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert upper_bound(now, 0, aware=True) is None
    assert upper_bound(now, 30, aware=True) == dt.datetime(2026, 1, 1, 11, 59, 30, tzinfo=dt.UTC)
    assert upper_bound(now, 30, aware=False) == dt.datetime(2026, 1, 1, 11, 59, 30)
