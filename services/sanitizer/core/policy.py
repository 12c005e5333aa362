"""The sanitizer's policy file (``config/sanitizer.yaml``), validated into typed, frozen objects.

It says which dataset each source feeds, how content is normalized and deduplicated, which operator
replaces each entity type, and what happens to each structured field of each source.
"""

from __future__ import annotations

import fnmatch
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.yaml_files import load_yaml_model
from libs.pii.policy import DetectPolicy, NamesPolicy
from libs.schemas.records import LanguageCode, Structure
from services.sanitizer.core.errors import PolicyError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Operator(StrEnum):
    """How a found value is replaced (``anonymize.entities`` and field policies)."""

    PSEUDONYM = "pseudonym"  # <EMAIL_1a2b3c4d>: keyed HMAC, same value -> same token everywhere
    REDACT = "redact"  # <EMAIL>
    MASK = "mask"  # ******1234
    HASH = "hash"  # keyed SHA-256 hex
    ENCRYPT = "encrypt"  # AES (reversible with the encryption key)
    KEEP = "keep"  # left as is (still counted)


class FieldAction(StrEnum):
    SCAN = "scan"  # strings, keys and long integers are scanned like the content
    KEEP = "keep"  # kept (ids, enums): only structured PII and secrets found in it are still replaced
    DROP = "drop"  # removed from the record
    REPLACE = "replace"  # the whole value is one entity (``entity``) replaced by ``operator``


class FieldPolicy(_Frozen):
    action: FieldAction = FieldAction.SCAN
    entity: str = Field(default="FIELD", pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    operator: Operator | None = None  # REPLACE only; default: the entity's operator

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `ssn: drop` is short for `ssn: {action: drop}`; `name: PERSON` for a whole-value PERSON.
        if isinstance(value, str):
            if value in {a.value for a in FieldAction}:
                return {"action": value}
            return {"action": "replace", "entity": value}
        return value


class NormalizePolicy(_Frozen):
    min_chars: int = Field(default=8, ge=0, description="Shorter (normalized) content is dropped.")
    max_chars: int = Field(default=200_000, ge=1, description="Longer content goes to the DLQ (too_long).")
    max_blank_lines: int = Field(default=1, ge=0, description="Longer runs of blank lines are cut.")


class NearDedupPolicy(_Frozen):
    enabled: bool = True
    threshold: float = Field(default=0.85, gt=0.0, le=1.0, description="Estimated Jaccard similarity.")
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_words: int = Field(default=5, ge=1, le=16)
    action: Literal["drop", "mark"] = "drop"
    max_entries: int = Field(default=200_000, ge=1, description="History kept per partition (FIFO).")
    min_words: int = Field(default=8, ge=1, description="Shorter texts are not near-deduplicated.")


class DedupPolicy(_Frozen):
    exact: bool = True
    near: NearDedupPolicy = NearDedupPolicy()


class AnonymizePolicy(_Frozen):
    default_operator: Operator = Operator.PSEUDONYM
    entities: dict[str, Operator] = Field(default_factory=dict)
    token_hex_chars: int = Field(default=8, ge=6, le=64, description="Hex digits in a pseudonym token.")
    mask_char: str = Field(default="*", min_length=1, max_length=1)
    mask_keep_last: int = Field(default=4, ge=0)

    def operator_for(self, entity: str) -> Operator:
        return self.entities.get(entity, self.default_operator)


class DatasetPolicy(_Frozen):
    default: str | None = Field(
        default="general", description="Dataset of sources not listed; null sends them to the DLQ."
    )
    sources: dict[str, str] = Field(default_factory=dict)

    def dataset_for(self, source: str) -> str | None:
        return self.sources.get(source, self.default)


class QualityThresholds(_Frozen):
    """The checks behind ``features.quality`` (Gopher / C4 style); a failed one is named in
    ``features.quality_issues``. Defaults suit short help-desk text: Gopher's own minimum is 50 words."""

    min_words: int = Field(default=5, ge=0)
    max_words: int = Field(default=100_000, ge=1)
    min_mean_word_length: float = Field(default=3.0, ge=0)
    max_mean_word_length: float = Field(default=10.0, gt=0)
    max_symbol_word_ratio: float = Field(default=0.1, ge=0)
    min_alpha_word_fraction: float = Field(default=0.8, ge=0, le=1)
    min_stop_words: int = Field(default=2, ge=0, description="English stop words; 0 for other languages.")
    max_dup_line_fraction: float = Field(default=0.3, ge=0, le=1)
    max_top_2gram_fraction: float = Field(default=0.2, ge=0, le=1)
    max_dup_5gram_fraction: float = Field(default=0.15, ge=0, le=1)
    min_end_punct_fraction: float = Field(default=0.1, ge=0, le=1)
    max_boilerplate_fraction: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _ranges(self) -> QualityThresholds:
        if self.min_words > self.max_words or self.min_mean_word_length > self.max_mean_word_length:
            raise ValueError("a minimum is above its maximum")
        return self


DEFAULT_BOILERPLATE_MARKERS: tuple[str, ...] = (
    "lorem ipsum",
    "javascript must be enabled",
    "enable javascript",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "privacy policy",
    "terms of use",
    "terms of service",
    "all rights reserved",
    "click here",
    "unsubscribe",
)


class LanguagePolicy(_Frozen):
    min_chars: int = Field(default=20, ge=0, description="Fewer letters: lang is und.")
    min_score: float = Field(default=0.5, ge=0, le=1, description="Less sure: lang is und.")
    sample_chars: int = Field(
        default=500,
        ge=50,
        description="Only the text's first characters are identified (cost grows with length).",
    )


class FeaturesPolicy(_Frozen):
    """The feature step: language, token count, structure and quality signals on every record."""

    enabled: bool = True
    tokenizer: str = Field(
        default="auto",
        min_length=1,
        description="embedded: the training default's tokenizer.json (prepared by `tuneline models "
        "prepare`; missing is an error at start); auto: the same when prepared, else no token count "
        "(with a warning); a tokenizer.json or a folder holding one; none: tokens not counted.",
    )
    language: LanguagePolicy = LanguagePolicy()
    quality: QualityThresholds = QualityThresholds()
    boilerplate_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE_MARKERS),
        description="Lower-case phrases that mark a boilerplate line.",
    )


class FiltersPolicy(_Frozen):
    """Records dropped by their features (counted by reason, ``filtered:<what>``). Every filter is off
    by default; ``exempt_structures`` are never filtered by language or quality (logs are not prose)."""

    languages: list[LanguageCode] = Field(
        default_factory=list,
        description="Allowed languages (ISO 639-1); empty: all. Undetermined (und) records are kept.",
    )
    min_quality: float | None = Field(default=None, ge=0, le=1, description="Drop below this score.")
    structures: list[Structure] = Field(default_factory=list, description="Allowed structures; empty: all.")
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    exempt_structures: list[Structure] = Field(default_factory=lambda: [Structure.LOG])

    @property
    def active(self) -> bool:
        return bool(
            self.languages
            or self.min_quality is not None
            or self.structures
            or self.min_tokens is not None
            or self.max_tokens is not None
        )


class SanitizerPolicy(_Frozen):
    version: Literal[1] = 1
    datasets: DatasetPolicy = DatasetPolicy()
    normalize: NormalizePolicy = NormalizePolicy()
    dedup: DedupPolicy = DedupPolicy()
    detect: DetectPolicy = DetectPolicy()
    names: NamesPolicy = NamesPolicy()
    anonymize: AnonymizePolicy = AnonymizePolicy()
    features: FeaturesPolicy = FeaturesPolicy()
    filters: FiltersPolicy = FiltersPolicy()
    fields: dict[str, dict[str, FieldPolicy]] = Field(
        default_factory=dict,
        description="source (or '*') -> field path (dotted, glob allowed) -> policy.",
    )

    def field_rule(self, source: str, path: str) -> FieldPolicy | None:
        """The rule written for a field (dotted path, list indexes left out): the source's own rules
        first, then the '*' rules; None where no rule names it (it inherits its parent's)."""
        for scope in (source, "*"):
            rules = self.fields.get(scope, {})
            if path in rules:
                return rules[path]
            for pattern, rule in rules.items():
                if fnmatch.fnmatchcase(path, pattern):
                    return rule
        return None

    def field_policy(self, source: str, path: str) -> FieldPolicy:
        """The policy of a field: its rule, else scan."""
        return self.field_rule(source, path) or FieldPolicy()

    @model_validator(mode="after")
    def _filters_need_features(self) -> SanitizerPolicy:
        if self.filters.active and not self.features.enabled:
            raise ValueError("filters need features.enabled: true")
        tokens = self.filters.min_tokens is not None or self.filters.max_tokens is not None
        if tokens and self.features.tokenizer == "none":
            raise ValueError("filters.min_tokens / max_tokens need a features.tokenizer")
        return self


def load_policy(path: str | Path) -> SanitizerPolicy:
    """Read and validate a policy file; raise ``PolicyError`` naming the problem."""
    return load_yaml_model(path, SanitizerPolicy, "policy file", PolicyError)
