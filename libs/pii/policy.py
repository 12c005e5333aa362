"""What counts as PII: the ``detect`` and ``names`` sections of a sanitizer policy file.

The sanitizer reads them as part of its whole policy (``services/sanitizer/core/policy.py``); the
evaluator reads only these two sections of the same file (``load_detection_policy``), so both scan
text with the same patterns, allow list and company vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from libs.common.yaml_files import load_yaml_model
from libs.pii.errors import PiiConfigError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DetectPolicy(_Frozen):
    secret_min_length: int = Field(default=20, ge=12)
    secret_min_entropy: float = Field(default=3.5, ge=0.0, le=8.0, description="Bits per character.")
    keep_ips: tuple[str, ...] = ("0.0.0.0", "127.0.0.1", "::", "::1", "255.255.255.255")  # noqa: S104
    allow_list: tuple[str, ...] = Field(default=(), description="Values never replaced (exact).")


class NamesPolicy(_Frozen):
    enabled: bool = True
    model: str = Field(default="en_core_web_sm", description="spaCy model package (module name).")
    batch_size: int = Field(default=256, ge=1)
    window_words: int = Field(default=3, ge=1, le=64, description="Context around a candidate for NER.")
    extra_stop_words: tuple[str, ...] = ()


class DetectionPolicy(Protocol):
    """Anything that says what counts as PII: a whole sanitizer policy or a ``DetectionSections``."""

    @property
    def detect(self) -> DetectPolicy: ...

    @property
    def names(self) -> NamesPolicy: ...


class DetectionSections(BaseModel):
    """The ``detect`` and ``names`` sections of a policy file; every other section is left to the
    sanitizer."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    detect: DetectPolicy = DetectPolicy()
    names: NamesPolicy = NamesPolicy()


def load_detection_policy(path: str | Path) -> DetectionSections:
    """Read the detection sections of a sanitizer policy file; ``PiiConfigError`` names the problem."""
    return load_yaml_model(path, DetectionSections, "policy file", PiiConfigError)
