"""Build encoded ``RawRecord`` messages on the hot path.

A source produces tens of thousands of records a second, so records are written as JSON straight
from a dict in the field order of ``RawRecord`` instead of through a model instance; the unit tests
decode every shape this produces with the real model, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

import orjson
from pydantic import JsonValue

from libs.schemas.records import RECORD_SCHEMA_VERSION, RecordKind, stable_record_id
from services.collector.core.items import Emit, Position, Reject

DEFAULT_MAX_RECORD_BYTES: Final = 1_000_000


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordFactory:
    """Turns one source item into an ``Emit`` (or a ``Reject`` when it is over the size limit)."""

    def __init__(
        self,
        source: str,
        kind: RecordKind,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.source = source
        self.kind = kind
        self.max_record_bytes = max_record_bytes
        self._kind_value = kind.value
        self._clock = clock

    def build(
        self,
        natural_key: str,
        content: str,
        fields: dict[str, JsonValue],
        metadata: dict[str, JsonValue],
        position: Position,
    ) -> Emit | Reject:
        record_id = stable_record_id(self.source, natural_key)
        try:
            value = orjson.dumps(
                {
                    "schema_version": RECORD_SCHEMA_VERSION,
                    "id": record_id,
                    "source": self.source,
                    "kind": self._kind_value,
                    "content": content,
                    "fields": fields,
                    "metadata": metadata,
                    "collected_at": self._clock(),
                },
                option=orjson.OPT_UTC_Z,
            )
        except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in parsed JSON
            return Reject("conversion_failed", str(exc), position, where={"record_id": record_id, **metadata})
        if len(value) > self.max_record_bytes:
            return Reject(
                reason="record_too_large",
                detail=f"{len(value)} bytes encoded, the limit is {self.max_record_bytes}",
                position=position,
                where={"record_id": record_id, **metadata},
            )
        return Emit(record_id, value, position)
