"""Turn database and API values into JSON values without losing information.

Decimals stay numbers when a float holds them exactly and become strings otherwise; datetimes, dates
and times become ISO 8601; UUIDs strings; bytes base64; non-finite floats their name (JSON has no NaN).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import JsonValue

from services.collector.core.errors import ConversionError

_PLAIN = (str, bool, type(None))
_INT_RANGE = range(-(2**63), 2**64)  # what JSON encoders and most readers take as an integer


def to_json_safe(value: Any) -> JsonValue:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Enum):
        return to_json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_safe(v) for v in value]
    raise ConversionError(f"cannot convert a value of type {type(value).__name__} to JSON")


def _decimal(value: Decimal) -> JsonValue:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


# Types that are JSON as they are (ints and floats are range- and finiteness-checked by to_json_safe).
_AS_IS = frozenset({str, type(None), bool})


def row_to_fields(names: Sequence[str], values: Sequence[Any]) -> dict[str, JsonValue]:
    """A database row as a JSON object; raises ``ConversionError`` naming the column."""
    fields: dict[str, JsonValue] = {}
    for name, value in zip(names, values, strict=True):
        if type(value) in _AS_IS:  # the hot path: most columns are text
            fields[name] = value
            continue
        try:
            fields[name] = to_json_safe(value)
        except ConversionError as exc:
            raise ConversionError(f"column {name!r}: {exc}") from exc
    return fields
