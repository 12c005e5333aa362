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


class DriftConfig(_Config):
    """Continuous evaluation: the production model of each dataset on the records that arrived since its
    training watermark, per source, against its evaluation report at promotion (``core/drift.py``)."""

    enabled: bool = Field(default=True, description="Run the checks in the evaluator worker.")
    datasets: list[str] = Field(
        default_factory=list, description="Only these datasets; empty: every dataset with a production model."
    )
    poll_s: float = Field(default=60.0, gt=0, description="How often the worker looks at the counters.")
    min_new_records: int = Field(
        default=200, ge=1, description="New records (the writer's counter) since the last check: check."
    )
    max_interval_s: float | None = Field(
        default=86_400.0, gt=0, description="Check at least this often when any record arrived (null: never)."
    )
    metric: Literal["perplexity", "byte_perplexity"] = Field(
        default="perplexity", description="The compared loss metric (the same model: same tokenizer)."
    )
    margin: float = Field(
        default=0.15, gt=0, description="A source whose metric rose more than this (relative) has drifted."
    )
    min_records_per_source: int = Field(
        default=20, ge=1, description="Fewer fresh records of a source: reported, never judged."
    )
    held_out_only: bool = Field(
        default=True,
        description="Only records on the eval side of the trainer's split (the next run holds them out too).",
    )
    max_records: int | None = Field(
        default=2000, ge=1, description="Stable hash sample of the fresh records (null: all of them)."
    )
    max_pairs: int = Field(
        default=50, ge=0, description="Prompt/response pairs generated for the task metrics (0: none)."
    )
    settle_s: float = Field(
        default=5.0, ge=0, description="Records ingested in the last seconds wait for the next check."
    )
    request_training: bool = Field(default=True, description="Ask the admin API for a `drift` run.")
    retry_after_s: float = Field(
        default=86_400.0,
        gt=0,
        description="At most one drift run per production model per this many seconds since its promotion.",
    )


class EvaluatorConfig(_Config):
    version: Literal[1] = 1
    runtime: RuntimeConfig = RuntimeConfig()
    loss: LossConfig = LossConfig()
    generation: GenerationConfig = GenerationConfig()
    canaries: CanaryConfig = CanaryConfig()
    pii_scan: PiiScanConfig = PiiScanConfig()
    gates: GatesConfig = GatesConfig()
    drift: DriftConfig = DriftConfig()

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
