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


class Structure(StrEnum):
    """What a record looks like, as the sanitizer's feature step detects it."""

    QA = "qa"  # a question/answer (prompt/response) pair
    LOG = "log"  # a log entry (message, level, stack trace)
    ARTICLE = "article"  # prose with a title or several paragraphs
    OTHER = "other"  # anything else (a short message, a row of values)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LanguageCode = Annotated[str, Field(pattern=r"^([a-z]{2,3}|und)$", description="ISO 639, or und.")]


class QualitySignals(_Frozen):
    """Text statistics in the style of the Gopher and C4 quality filters (computed on ``content``)."""

    words: NonNegativeInt
    mean_word_length: float = Field(ge=0.0)
    symbol_word_ratio: float = Field(ge=0.0, description="('#' + ellipses) per word.")
    alpha_word_fraction: Fraction = Field(description="Words holding at least one letter.")
    stop_words: NonNegativeInt = Field(description="English stop words (the, be, to, of, and...).")
    lines: NonNegativeInt
    dup_line_fraction: Fraction = Field(description="Non-empty lines that repeat an earlier line.")
    top_2gram_fraction: Fraction = Field(description="Characters in the most frequent word 2-gram.")
    dup_5gram_fraction: Fraction = Field(description="Characters in word 5-grams seen more than once.")
    end_punct_fraction: Fraction = Field(description="Non-empty lines ending in terminal punctuation.")
    boilerplate_fraction: Fraction = Field(description="Lines holding a boilerplate marker.")


class RecordFeatures(_Frozen):
    """Per-record features the sanitizer adds: for the dataset policy's filters, the trainer's snapshot
    selection and operators."""

    lang: LanguageCode = Field(description="Detected language; und when too short or unsure.")
    lang_score: Fraction = Field(description="The identifier's probability of ``lang``.")
    tokens: NonNegativeInt | None = Field(
        default=None, description="Tokens of ``content`` under the training tokenizer (None: not counted)."
    )
    structure: Structure
    quality: Fraction = Field(description="Share of the quality checks passed (1.0: all).")
    quality_issues: list[str] = Field(default_factory=list, description="The checks that failed.")
    signals: QualitySignals


class SanitizedRecord(RawRecord):
    """A deduplicated, anonymized record (topic ``sanitized.records``); ``content`` and ``fields``
    hold no personal data any more."""

    dataset: DatasetName
    content_hash: str = Field(pattern=r"^[0-9a-f]{16,128}$", description="Hash of the normalized content.")
    pii: dict[str, NonNegativeInt] = Field(
        default_factory=dict, description="Entity type -> number of values replaced."
    )
    sanitized_at: AwareDatetime
    features: RecordFeatures | None = Field(
        default=None, description="Added by the sanitizer's feature step (absent when it is off)."
    )


def stable_record_id(source: str, natural_key: str) -> str:
    """A record id that depends only on the source and the item's natural key (primary key,
    file fingerprint + offset, object id), so a re-collected item keeps its id on every run."""
    digest = hashlib.blake2b(f"{source}\x00{natural_key}".encode(), digest_size=16).hexdigest()
    return f"{source}:{digest}"


class FeatureSelection(_Frozen):
    """Which records a training snapshot keeps, by the features the sanitizer stored with them. Empty:
    every record. Otherwise a record without features (stored before the feature step, or with it off)
    is left out, since it cannot be shown to match."""

    structures: list[Structure] = Field(default_factory=list, description="Keep only these; empty: any.")
    languages: list[LanguageCode] = Field(default_factory=list, description="Keep only these; empty: any.")
    min_quality: Fraction | None = None
    min_tokens: NonNegativeInt | None = None
    max_tokens: NonNegativeInt | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.structures
            or self.languages
            or self.min_quality is not None
            or self.min_tokens is not None
            or self.max_tokens is not None
        )

    def matches(self, features: RecordFeatures | None) -> bool:
        if not self.active:
            return True
        if features is None:
            return False
        if self.structures and features.structure not in self.structures:
            return False
        if self.languages and features.lang not in self.languages:
            return False
        if self.min_quality is not None and features.quality < self.min_quality:
            return False
        if self.min_tokens is not None or self.max_tokens is not None:
            if features.tokens is None:
                return False
            if self.min_tokens is not None and features.tokens < self.min_tokens:
                return False
            if self.max_tokens is not None and features.tokens > self.max_tokens:
                return False
        return True
