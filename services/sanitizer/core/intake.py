"""Bytes (a Kafka message, a JSON line) -> ``RawRecord``, or ``RecordRejected`` with a reason."""

from __future__ import annotations

from libs.schemas import RawRecord, SchemaDecodeError, decode
from services.sanitizer.core.errors import RecordRejected


def parse_record(data: bytes | str, max_bytes: int) -> RawRecord:
    """Reasons: ``oversize`` (over ``max_bytes``), ``not_json``, ``invalid_record`` (schema)."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise RecordRejected("oversize", f"{size} bytes, over the {max_bytes}-byte limit")
    try:
        return decode(RawRecord, data)
    except SchemaDecodeError as exc:
        reason = "not_json" if exc.field == "<json>" else "invalid_record"
        raise RecordRejected(reason, str(exc)) from None
