"""Records as they travel between services: one JSON message per record, keyed by ``id``.

A stage adds fields to the previous stage's model: ``RawRecord`` (collector) is extended by
``SanitizedRecord`` (sanitizer), which the writer stores.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, NonNegativeInt

from libs.schemas.names import SOURCE_NAME_PATTERN

RECORD_SCHEMA_VERSION: Final = 1

SourceName = Annotated[str, Field(pattern=SOURCE_NAME_PATTERN, description="Configured source name.")]
RecordId = Annotated[
    str,
    Field(
        min_length=1, max_length=512, description="Stable id: the same row, line or object gives the same id."
    ),
]
DatasetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
JsonMap = dict[str, JsonValue]


class RecordKind(StrEnum):
    SQL = "sql"
    LOG = "log"
    HTTP = "http"


class _Frozen(BaseModel):
    # allow_inf_nan=False: JSON has no NaN, and a value that silently became null would not round-trip.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RawRecord(_Frozen):
    """A record as collected from a source, before any cleaning (topic ``raw.<source>``)."""

    schema_version: Literal[1] = RECORD_SCHEMA_VERSION
    id: RecordId
    source: SourceName
    kind: RecordKind
    content: str = Field(description="The text to learn from.")
    fields: JsonMap = Field(
        default_factory=dict, description="Structured payload (row, parsed line, object)."
    )
    metadata: JsonMap = Field(
        default_factory=dict, description="Where it came from: table, path, url, offset."
    )
    collected_at: AwareDatetime


class SanitizedRecord(RawRecord):
    """A deduplicated, anonymized record (topic ``sanitized.records``); ``content`` and ``fields``
    hold no personal data any more."""

    dataset: DatasetName
    content_hash: str = Field(pattern=r"^[0-9a-f]{16,128}$", description="Hash of the normalized content.")
    pii: dict[str, NonNegativeInt] = Field(
        default_factory=dict, description="Entity type -> number of values replaced."
    )
    sanitized_at: AwareDatetime


def stable_record_id(source: str, natural_key: str) -> str:
    """A record id that depends only on the source and the item's natural key (primary key,
    file fingerprint + offset, object id), so a re-collected item keeps its id on every run."""
    digest = hashlib.blake2b(f"{source}\x00{natural_key}".encode(), digest_size=16).hexdigest()
    return f"{source}:{digest}"
