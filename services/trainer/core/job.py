"""What the job process hands each training worker: one validated object, so the per-worker recipe reads
everything from its ``config`` argument and nothing from globals or the environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.trainer.core.config import TrainingConfig


class ProgressTarget(BaseModel):
    """Where rank 0 writes progress and metrics: the run's record in DynamoDB (workers may run on other
    nodes, so a local file would not reach the trainer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dynamodb_endpoint: str | None
    aws_region: str
    table_prefix: str


class JobSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    dataset: str
    base_model_path: str = Field(description="Folder (or hub id) with the base model and its tokenizer.")
    data_path: str = Field(description="The packed train/eval blocks (torch.save file).")
    output_dir: str = Field(description="Scratch space of this run on each worker's node.")
    training: TrainingConfig
    progress: ProgressTarget | None = None
    steady_after_steps: int = Field(default=5, ge=0, description="Steps excluded from tokens/s (warm-up).")
