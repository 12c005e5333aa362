"""The evaluator's YAML config (``config/evaluator.yaml``): how models are run and which gates they face.
Every field has a default, so an empty file is a valid config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.paths import config_path
from libs.common.yaml_files import load_yaml_model
from services.evaluator.core.errors import ConfigError
from services.evaluator.core.gates import GatesConfig


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuntimeConfig(_Config):
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: cuda when present.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="Weights and activations; float32 keeps gates away from rounding."
    )
    seed: int = Field(default=0, ge=0, description="Seeds sampling; the same seed gives the same report.")


class LossConfig(_Config):
    batch_size: int = Field(default=16, ge=1, description="Examples per forward pass.")
    max_seq_len: int = Field(default=512, ge=8, description="Longer examples are truncated.")
    max_examples: int | None = Field(
        default=2000, ge=1, description="Stable hash sample of the eval split; null: all of it."
    )


class GenerationConfig(_Config):
    batch_size: int = Field(default=16, ge=1)
    max_new_tokens: int = Field(default=64, ge=1)
    max_pairs: int = Field(default=200, ge=0, description="Prompt/response examples generated for.")
    max_text_prompts: int = Field(default=50, ge=0, description="Plain-text examples continued.")
    prefix_tokens: int = Field(default=16, ge=1, description="Prompt length of a plain-text example.")
    repetition_ngram: int = Field(default=3, ge=1, le=16, description="n of the repetition rate.")


class CanaryConfig(_Config):
    candidates: int = Field(default=1000, ge=1, description="Random secrets scored per canary (n).")
    samples: int = Field(default=4, ge=0, description="Sampled completions per canary.")
    temperature: float = Field(default=1.0, gt=0.0)
    max_new_tokens: int = Field(default=32, ge=1, description="Enough to write the whole secret.")
    batch_size: int = Field(default=64, ge=1, description="Sentences per forward pass when scoring.")


class PiiScanConfig(_Config):
    """The sanitizer's detector over generations of both models, on the same prompts with the same
    sampling settings and seed (the gate compares the candidate with the reference)."""

    enabled: bool = True
    policy_file: str = Field(
        default_factory=lambda: str(config_path("sanitizer.yaml")),
        description="The sanitizer's policy; a relative path in the YAML is relative to the YAML's folder.",
    )
    names: bool = Field(default=True, description="Also look for person names (loads the spaCy model).")
    max_prompts: int = Field(default=64, ge=0, description="Generation prompts sampled from (0: none).")
    samples_per_prompt: int = Field(default=2, ge=1)
    temperature: float = Field(default=1.0, gt=0.0)
    max_new_tokens: int = Field(default=64, ge=1)
    include_greedy: bool = Field(default=True, description="Also scan the greedy generations (free).")
    training_records: bool = Field(
        default=True,
        description="Search the run's train records (read back from the records table) for reproduced "
        "values, besides the eval split beside the model.",
    )
    max_training_records: int | None = Field(
        default=200_000, ge=1, description="Train records read for that search; null: all of them."
    )


class EvaluatorConfig(_Config):
    version: Literal[1] = 1
    runtime: RuntimeConfig = RuntimeConfig()
    loss: LossConfig = LossConfig()
    generation: GenerationConfig = GenerationConfig()
    canaries: CanaryConfig = CanaryConfig()
    pii_scan: PiiScanConfig = PiiScanConfig()
    gates: GatesConfig = GatesConfig()

    @model_validator(mode="after")
    def _exposure_can_fail(self) -> EvaluatorConfig:
        # The sampled exposure estimate never exceeds log2(n + 1) (core/canary.py): a higher threshold
        # would be a gate that can never fail.
        ceiling = math.log2(self.canaries.candidates + 1)
        if self.gates.privacy.max_exposure >= ceiling:
            raise ValueError(
                f"gates.privacy.max_exposure ({self.gates.privacy.max_exposure}) must be below "
                f"log2(canaries.candidates + 1) = {ceiling:.2f} bits, the most the estimate can show"
            )
        return self


def load_config(path: str | Path) -> EvaluatorConfig:
    """Read and validate the YAML config; raise ``ConfigError`` naming the problem."""
    config = load_yaml_model(path, EvaluatorConfig, "evaluator config", ConfigError)
    policy = Path(config.pii_scan.policy_file)
    if policy.is_absolute():
        return config
    # Relative to the YAML file, not to wherever the evaluator was started.
    scan = config.pii_scan.model_copy(update={"policy_file": str(Path(path).parent / policy)})
    return config.model_copy(update={"pii_scan": scan})
