"""The incremental cursor of a SQL source, without any database code.

Rows are read in ``(cursor, *key)`` order and each query asks for the rows strictly after the last
one read: ``(cursor, *key) > (last_cursor, *last_key)``. Comparing the whole tuple is what keeps rows
that share a cursor value: a plain ``cursor > last_cursor`` loses the rest of a batch that ends inside
a group of equal timestamps (Kafka Connect JDBC issues 172 and 915). Rows committed late, with a
timestamp that is already behind the cursor, are caught by reading only up to ``now - lag``: a row
that commits within the lag window is visible before the cursor passes its timestamp.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import JsonValue

from services.collector.core.errors import ConversionError

CURSOR_PARTITION = "cursor"


_PLAIN = frozenset({int, str, float, bool, type(None)})


def encode_value(value: Any) -> JsonValue:
    """A cursor or key value as JSON that decodes back to the same Python type."""
    if type(value) in _PLAIN or isinstance(value, bool | int | float | str):
        return value  # type: ignore[no-any-return]
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise ConversionError(f"a cursor or key column of type {type(value).__name__} is not supported")


def decode_value(value: JsonValue) -> Any:
    if not isinstance(value, dict):
        return value
    ((tag, text),) = value.items()
    if not isinstance(text, str):
        raise ConversionError(f"malformed cursor value {value!r}")
    decoders: dict[str, Any] = {
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "decimal": Decimal,
        "uuid": uuid.UUID,
        "bytes": base64.b64decode,
    }
    if tag not in decoders:
        raise ConversionError(f"unknown cursor value type {tag!r}")
    return decoders[tag](text)


@dataclass(frozen=True, slots=True)
class CursorPlan:
    """How one source walks its rows: the order columns are the cursor, then the key columns."""

    cursor: str
    key: tuple[str, ...]

    @property
    def order_columns(self) -> tuple[str, ...]:
        # When the cursor is the key itself (an increasing id) it is not repeated.
        if self.key == (self.cursor,):
            return self.key
        return (self.cursor, *(k for k in self.key if k != self.cursor))

    def position(self, order_values: Sequence[Any]) -> JsonValue:
        """The checkpoint offset after a row: its order-column values as the database returned them."""
        return [v if type(v) in _PLAIN else encode_value(v) for v in order_values]

    def resume_after(self, offset: JsonValue) -> tuple[Any, ...] | None:
        """The order-column values to continue after, from a checkpoint offset."""
        if offset is None:
            return None
        if not isinstance(offset, list) or len(offset) != len(self.order_columns):
            raise ConversionError(
                f"the checkpoint holds {offset!r}, which does not match the order columns "
                f"{list(self.order_columns)} (did the cursor or key configuration change?)"
            )
        return tuple(decode_value(v) for v in offset)

    def natural_key(self, key_values: Sequence[Any]) -> str:
        """The row's identity for its record id: its key values, unambiguously joined."""
        return orjson.dumps([v if type(v) in _PLAIN else encode_value(v) for v in key_values]).decode()


def upper_bound(now: dt.datetime, lag_s: float, aware: bool) -> dt.datetime | None:
    """The newest cursor timestamp a query may read; None when no lag is configured."""
    if lag_s <= 0:
        return None
    bound = now.astimezone(dt.UTC) - dt.timedelta(seconds=lag_s)
    return bound if aware else bound.replace(tzinfo=None)


def is_after(values: tuple[Any, ...], last: tuple[Any, ...] | None) -> bool:
    """The keyset predicate, in Python: what ``tuple_(*order) > tuple_(*last)`` selects in SQL."""
    return last is None or values > last
