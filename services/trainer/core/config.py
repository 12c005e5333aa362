"""Training configuration: defaults, per-dataset policies (thresholds, cooldowns) and per-run overrides,
validated into one frozen ``TrainingConfig`` per run. Loaded from YAML (``config/trainer.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from libs.common.yaml_files import load_yaml_model, problems
from libs.models import EMBEDDED_MODEL
from libs.schemas.records import DatasetName, FeatureSelection
from services.trainer.core.errors import ConfigError, UnknownDataset

# A small, randomly initialised Llama-style model and a BPE tokenizer built from the snapshot itself: for
# fast tests of the training path only (it learns nothing useful). Logged and written to the manifest
# under this name.
TINY_MODEL: Final = "tuneline/tiny-llama"
# The default: a real pre-trained instruct model shipped in a Python package (libs/models.py), converted
# once into a cached Hugging Face folder, so the pipeline fine-tunes a real LLM offline.
DEFAULT_BASE_MODEL: Final = EMBEDDED_MODEL


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TinyModelConfig(_Config):
    """Shape of the locally built model used when ``base_model`` is ``TINY_MODEL``."""

    hidden_size: int = Field(default=128, ge=16, le=8192)
    layers: int = Field(default=2, ge=1, le=64)
    heads: int = Field(default=4, ge=1)
    kv_heads: int = Field(default=2, ge=1)
    intermediate_size: int = Field(default=256, ge=16)
    vocab_size: int = Field(
        default=2048, ge=300, le=256_000, description="BPE vocabulary trained on the snapshot."
    )
    tokenizer_sample: int = Field(default=20_000, ge=100, description="Records the tokenizer is trained on.")

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            raise ValueError("hidden_size must be a multiple of heads, and heads a multiple of kv_heads")
        return self


class LoraConfig(_Config):
    r: int = Field(default=16, ge=1, le=1024)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class DeepSpeedConfig(_Config):
    """``zero_stage`` 0 trains with plain DDP (no DeepSpeed)."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    # On gloo (CPU), reduce-scatter made ZeRO-2 1.4x slower than all-reduce (docs/trainer-notes.md).
    reduce_scatter: bool | None = Field(default=None, description="None: off on CPU, on with GPUs.")
    overlap_comm: bool | None = Field(default=None, description="None: off on CPU, on with GPUs.")
    offload_optimizer: bool = False


class ScalingConfig(_Config):
    # One worker with both threads: on 2 cores it trained the 135M default at 276 tokens/s (LoRA), two
    # single-thread workers at 150-156 with twice the memory (a model copy each). Scale out on GPUs.
    workers: int = Field(default=1, ge=1, le=1024)
    use_gpu: bool = False
    cpus_per_worker: int = Field(default=2, ge=1, le=256, description="Also the torch threads per worker.")
    resources_per_worker: dict[str, float] = Field(default_factory=dict, description="Extra Ray resources.")
    max_failures: int = Field(
        default=1, ge=0, le=100, description="Worker failures resumed from a checkpoint."
    )


class TrainingConfig(_Config):
    """Everything one run needs; stored with the run and in the model's manifest."""

    base_model: str = Field(
        default=DEFAULT_BASE_MODEL,
        min_length=1,
        description="The embedded default, a Hugging Face id, a local folder, or TINY_MODEL (tests).",
    )
    tiny: TinyModelConfig = TinyModelConfig()
    # LoRA: on 2 CPU cores 1.5x the tokens/s of full fine-tuning for the 135M default, and its gradients
    # (~5M parameters, not 135M) are what the workers exchange every step.
    finetune: Literal["full", "lora"] = "lora"
    lora: LoraConfig = LoraConfig()
    seq_len: int = Field(default=256, ge=8, le=131_072, description="Packed block length in tokens.")
    epochs: float = Field(default=1.0, gt=0, le=1000)
    max_steps: int = Field(default=0, ge=0, description="0: train for `epochs`.")
    batch_size: int = Field(default=4, ge=1, le=4096, description="Blocks per worker per step.")
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    learning_rate: float = Field(default=1e-3, gt=0, le=1, description="For LoRA; full: about 5e-5.")
    warmup_steps: int = Field(default=5, ge=0)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    eval_fraction: float = Field(
        default=0.1, gt=0, lt=1, description="Share of records held out, by id hash."
    )
    save_steps: int = Field(default=50, ge=1, description="Checkpoint every N steps (resume point).")
    precision: Literal["auto", "fp32", "bf16"] = Field(default="auto", description="auto: bf16 on GPUs.")
    seed: int = 42
    max_records: int | None = Field(default=None, ge=1, description="Cap on the snapshot (newest kept).")
    select: FeatureSelection = Field(
        default_factory=FeatureSelection,
        description="Only records whose sanitizer features match (e.g. structures: [qa]); empty: all.",
    )
    deepspeed: DeepSpeedConfig = DeepSpeedConfig()
    scaling: ScalingConfig = ScalingConfig()


class DatasetPolicy(_Config):
    """When a dataset is retrained, and how."""

    name: DatasetName
    threshold_records: int = Field(
        default=1000, ge=1, description="records_since_training that starts a run."
    )
    cooldown_s: float = Field(default=3600.0, ge=0, description="Least time between two runs' starts.")
    schedule: bool = Field(default=True, description="False: only the admin API starts runs.")
    training: dict[str, Any] = Field(default_factory=dict, description="Overrides of the defaults.")


class TrainerConfig(_Config):
    defaults: TrainingConfig = TrainingConfig()
    datasets: list[DatasetPolicy] = Field(default_factory=list)
    base_models: list[str] = Field(
        default_factory=list,
        description="Base models a request's overrides may name (hub ids, folders), besides those this "
        "file sets: a request never loads an arbitrary path of the trainer's machine.",
    )

    @model_validator(mode="after")
    def _unique_and_valid(self) -> TrainerConfig:
        names = [d.name for d in self.datasets]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"datasets configured twice: {duplicated}")
        for policy in self.datasets:  # fail at start-up, not at the first run
            try:
                resolve_training(self.defaults, policy.training, where=f"datasets[{policy.name}].training")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    def policy(self, dataset: str) -> DatasetPolicy:
        for policy in self.datasets:
            if policy.name == dataset:
                return policy
        raise UnknownDataset(f"dataset {dataset!r} is not configured for training")

    def training_for(self, dataset: str, overrides: dict[str, Any] | None = None) -> TrainingConfig:
        """The config of one run: defaults, then the dataset's overrides, then the request's."""
        merged = deep_merge(self.defaults.model_dump(), self.policy(dataset).training)
        if isinstance(overrides, dict) and isinstance(overrides.get("base_model"), str):
            self._check_base_model(overrides["base_model"])  # (not a string: refused by validation)
        return resolve_training(TrainingConfig.model_validate(merged), overrides or {}, where="overrides")

    def allowed_base_models(self) -> set[str]:
        """What a request may name: the allow-list and every model this file already sets."""
        configured = [policy.training.get("base_model") for policy in self.datasets]
        return {*self.base_models, self.defaults.base_model, *(m for m in configured if isinstance(m, str))}

    def _check_base_model(self, requested: str) -> None:
        # Matched exactly, never as a path: a folder's parent or a '..' spelling is not its child.
        allowed = self.allowed_base_models()
        if requested not in allowed:
            raise ConfigError(
                f"overrides: base_model {requested!r} is not allowed; choose one of {sorted(allowed)} "
                "(add others to base_models in the trainer config)"
            )


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_training(base: TrainingConfig, overrides: dict[str, Any], where: str) -> TrainingConfig:
    """``base`` with ``overrides`` applied; ConfigError naming each bad field otherwise."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(overrides).__name__}")
    try:
        return TrainingConfig.model_validate(deep_merge(base.model_dump(), overrides))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {problems(exc)}") from None


def load_config(path: Path) -> TrainerConfig:
    return load_yaml_model(path, TrainerConfig, "trainer config", ConfigError)
