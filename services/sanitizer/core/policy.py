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


class SanitizerPolicy(_Frozen):
    version: Literal[1] = 1
    datasets: DatasetPolicy = DatasetPolicy()
    normalize: NormalizePolicy = NormalizePolicy()
    dedup: DedupPolicy = DedupPolicy()
    detect: DetectPolicy = DetectPolicy()
    names: NamesPolicy = NamesPolicy()
    anonymize: AnonymizePolicy = AnonymizePolicy()
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


def load_policy(path: str | Path) -> SanitizerPolicy:
    """Read and validate a policy file; raise ``PolicyError`` naming the problem."""
    return load_yaml_model(path, SanitizerPolicy, "policy file", PolicyError)
