"""What a model was trained on and how: written next to the weights so every model can be traced
back to the exact records it learned from (``ids_digest``) and reproduced (``training``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from libs.model_folder.files import EVAL_FILE
from libs.schemas.events import RunId
from libs.schemas.records import DatasetName

MANIFEST_SCHEMA_VERSION: Final = 1


def ids_digest(ids: Iterable[str]) -> str:
    """``sha256:<hex>`` of the sorted ids, each followed by a newline: the same set of records gives
    the same digest whatever order the snapshot read them in."""
    sha = hashlib.sha256()
    for record_id in sorted(ids):
        if "\n" in record_id:  # would make {"a\nb"} and {"a", "b"} indistinguishable
            raise ValueError(f"record id contains a newline: {record_id!r}")
        sha.update(record_id.encode())
        sha.update(b"\n")
    return f"sha256:{sha.hexdigest()}"


class _Manifest(BaseModel):
    # No NaN/inf: JSON has none, and a metric that silently became null would not round-trip.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DataManifest(_Manifest):
    """The snapshot a run trained on."""

    dataset: DatasetName
    watermark: AwareDatetime = Field(description="Records ingested up to this instant.")
    record_count: NonNegativeInt = Field(description="Records in the snapshot, skipped ones included.")
    train_records: NonNegativeInt
    eval_records: NonNegativeInt
    skipped_records: NonNegativeInt = Field(default=0, description="Records with no text to learn from.")
    train_blocks: NonNegativeInt
    eval_blocks: NonNegativeInt
    tokens: NonNegativeInt = Field(description="Tokens in the packed stream, both sides.")
    ids_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="ids_digest() of every record id.")
    eval_fraction: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _counts_add_up(self) -> DataManifest:
        if self.train_records + self.eval_records + self.skipped_records != self.record_count:
            raise ValueError("train_records + eval_records + skipped_records must equal record_count")
        return self


class ModelManifest(_Manifest):
    """Written as ``manifest.json`` beside the weights."""

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    run_id: RunId
    dataset: DatasetName
    base_model: str = Field(min_length=1)
    # embedded: the cached folder of libs.models' embedded default, named by base_model (its alias).
    base_model_kind: Literal["hub", "local", "tiny-built", "embedded"]
    created_at: AwareDatetime
    data: DataManifest
    training: dict[str, Any] = Field(description="The resolved TrainingConfig.")
    metrics: dict[str, float] = Field(default_factory=dict)
    code_version: str = Field(min_length=1, description="Package version or git commit.")
    format: Literal["safetensors"] = "safetensors"
    eval_file: str = Field(
        default=EVAL_FILE, description="The eval split beside the weights: one JSON object per record."
    )
    base_model_dir: str | None = Field(
        default=None, description="Folder beside the weights holding a locally built base model, if any."
    )
    records_file: str | None = Field(
        default=None,
        description="Beside the weights: every snapshot record id and its split, sorted by id "
        "(libs.model_folder.lineage); None for models written before lineage.",
    )
    finetune: Literal["full", "lora"]

    @model_validator(mode="after")
    def _same_dataset(self) -> ModelManifest:
        if self.data.dataset != self.dataset:
            raise ValueError(
                f"data.dataset {self.data.dataset!r} is not the model's dataset {self.dataset!r}"
            )
        return self
