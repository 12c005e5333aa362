"""Request and response bodies of the admin API (what ``/openapi.json`` documents)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from libs.registry import DriftCheck, Production
from libs.schemas.events import TriggerReason
from libs.schemas.records import DatasetName
from services.trainer.core.runs import RunRecord, RunState
from services.trainer.service import ModelEntry

# Numbers an override may hold: finite, and integers that every JSON parser (and DynamoDB) reads exactly.
MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_OVERRIDES_DEPTH: Final = 8
MAX_LIST_LIMIT: Final = 500
MAX_REASON_LENGTH: Final = 1000


def check_json_safe(value: Any, where: str, depth: int = 0) -> None:
    """Raise ValueError naming the first value that could not be stored and read back exactly."""
    if depth > MAX_OVERRIDES_DEPTH:
        raise ValueError(f"{where or '(root)'}: nested deeper than {MAX_OVERRIDES_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"{where}: integer out of range (|n| <= {MAX_SAFE_INTEGER})")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: number must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_safe(item, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_safe(item, f"{where}[{index}]", depth + 1)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingRequest(_Body):
    """Start a training run of ``dataset``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"dataset": "docs", "overrides": {"learning_rate": 0.0005, "epochs": 2}}]
        },
    )

    dataset: DatasetName = Field(description="A dataset configured for training.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Training config fields to change for this run only (nested mappings merge), "
        'e.g. `{"learning_rate": 0.0005, "lora": {"r": 16}}`.',
    )

    reason: Literal["manual", "drift"] = Field(
        default="manual",
        description="Why: `manual` (a person), or `drift` (the evaluator's continuous evaluation found the "
        "production model behind on fresh records). A `drift` run respects the dataset's cooldown: 409 "
        "`cooling_down` while a run is active or the last one started less than `cooldown_s` ago.",
    )

    @field_validator("overrides")
    @classmethod
    def _json_safe(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        check_json_safe(overrides, "")
        return overrides


class RunsQuery(_Body):
    """Query of ``GET /v1/trainings``; an unknown parameter (a typo) is a 422, not silently ignored."""

    dataset: DatasetName | None = Field(default=None, description="Only this dataset's runs.")
    limit: int = Field(default=100, ge=1, le=MAX_LIST_LIMIT, description="At most this many runs.")


class ModelsQuery(_Body):
    """Query of ``GET /v1/models``."""

    dataset: DatasetName | None = Field(default=None, description="Only this dataset's models.")


class ProgressOut(_Body):
    step: int = Field(description="Optimizer steps done.")
    max_steps: int = Field(description="Steps the run will take (0 until known).")
    epoch: float = Field(description="Epochs done, fractional.")
    phase: str = Field(description="queued, snapshot, training, saving, done")


class RunOut(_Body):
    """A training run. The same fields as the stored run record."""

    run_id: str = Field(description="`<dataset>-<UTC time>-<random>`: unique and sortable by creation.")
    dataset: str = Field(description="The dataset trained on.")
    state: RunState = Field(description="queued -> running -> succeeded | failed | cancelled.")
    reason: TriggerReason = Field(
        description="manual (admin API), threshold (enough new records) or drift (continuous evaluation)."
    )
    requested_by: str = Field(description="Who asked for the run.")
    idempotency_key: str | None = Field(description="The `Idempotency-Key` it was created with, if any.")
    overrides: dict[str, Any] = Field(description="The request's overrides, as sent.")
    config: dict[str, Any] = Field(
        description="The resolved training config: defaults, the dataset's policy, then the overrides."
    )
    created_at: AwareDatetime = Field(description="When the run was queued.")
    started_at: AwareDatetime | None = Field(description="When a trainer replica started it.")
    finished_at: AwareDatetime | None = Field(description="When it succeeded, failed or was cancelled.")
    progress: ProgressOut = Field(description="Where the run is.")
    metrics: dict[str, float] = Field(description="Training and eval metrics (loss, perplexity, ...).")
    cancel_requested: bool = Field(
        description="A cancel was asked for; a running run stops at its next step."
    )
    model_uri: str | None = Field(description="Where the model was written (local folder or s3:// prefix).")
    base_model: str | None = Field(description="The pre-trained model fine-tuned.")
    data_watermark: AwareDatetime | None = Field(
        description="The snapshot holds records ingested up to this."
    )
    record_count: int = Field(description="Records in the snapshot.")
    error: str | None = Field(description="Why the run failed.")
    owner: str | None = Field(description="The trainer replica executing it.")
    announced: bool | None = Field(
        description="Its TrainingCompleted was acknowledged by the broker (false: not yet, the outbox "
        "sweeper retries; null: not finished)."
    )

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        return cls.model_validate(run.model_dump())


class RunList(_Body):
    runs: list[RunOut] = Field(description="Newest first.")


class ModelOut(_Body):
    """A trained model: a succeeded run's output."""

    run_id: str = Field(description="The run that trained it.")
    dataset: str
    model_uri: str = Field(description="Local folder or s3:// prefix holding the model and its manifest.")
    base_model: str | None = Field(description="The pre-trained model it was fine-tuned from.")
    created_at: AwareDatetime = Field(description="When its run was queued.")
    finished_at: AwareDatetime | None = Field(description="When its run finished.")
    data_watermark: AwareDatetime | None = Field(description="It learned from records ingested up to this.")
    record_count: int = Field(description="Records it learned from.")
    metrics: dict[str, float] = Field(description="Its run's metrics.")
    production: bool = Field(description="It is its dataset's production model.")

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelOut:
        run = entry.run
        return cls(
            run_id=run.run_id,
            dataset=run.dataset,
            model_uri=run.model_uri or "",
            base_model=run.base_model,
            created_at=run.created_at,
            finished_at=run.finished_at,
            data_watermark=run.data_watermark,
            record_count=run.record_count,
            metrics=run.metrics,
            production=entry.production,
        )


class ModelList(_Body):
    models: list[ModelOut] = Field(description="Newest first.")
    production: dict[str, str] = Field(description="dataset -> run id of its production model.")


Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REASON_LENGTH,
        pattern=r"\S",
        description="Why, for the audit trail: 1 to 1000 characters, not all blank.",
    ),
]


class PromoteRequest(_Body):
    """Promote a run's model to production by hand."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "the evaluator's gate misjudged this dataset; INC-123"}]},
    )

    reason: Reason


class RollbackRequest(_Body):
    """Put a dataset's previous production model back."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"dataset": "docs", "reason": "answers got worse; INC-124"}]},
    )

    dataset: DatasetName = Field(description="A dataset configured for training.")
    reason: Reason


class ProductionChangeOut(_Body):
    """One change of a dataset's production model (an audit entry)."""

    run_id: str = Field(description="The run whose model became production.")
    model_uri: str = Field(description="Where that model is (local folder or s3:// prefix).")
    at: AwareDatetime = Field(description="When.")
    by: str = Field(
        description="Who: `evaluator`, or for the admin API the `X-Actor` header (`admin` without it)."
    )
    action: str = Field(
        description="`promote` (the evaluator), `manual_promote` (the admin API) or `rollback`."
    )
    reason: str = Field(description="Why, as given.")
    previous_run_id: str | None = Field(description="The production run it replaced; null for the first.")

    @classmethod
    def of(cls, entry: dict[str, Any]) -> ProductionChangeOut:
        return cls(
            run_id=entry["run_id"],
            model_uri=entry["model_uri"],
            at=entry["at"],
            by=entry.get("by", ""),
            action=entry.get("action", "promote"),
            reason=entry.get("reason", ""),
            previous_run_id=entry.get("previous_run_id"),
        )


class ProductionOut(_Body):
    """A dataset's production model, and how it got there."""

    dataset: str
    run_id: str = Field(description="The run whose model serves the dataset.")
    model_uri: str = Field(description="Where the model is (local folder or s3:// prefix).")
    promoted_at: AwareDatetime = Field(description="When it became production.")
    promoted_by: str = Field(description="Who made it production (see `history[].by`).")
    action: str = Field(description="How: `promote`, `manual_promote` or `rollback`.")
    reason: str = Field(description="Why, as given.")
    previous_run_id: str | None = Field(description="The production run it replaced; null for the first.")
    history: list[ProductionChangeOut] = Field(
        description="Every change of the dataset's production model, oldest first (the latest 500)."
    )

    @classmethod
    def of(cls, production: Production) -> ProductionOut:
        return cls(
            dataset=production.dataset,
            run_id=production.run_id,
            model_uri=production.model_uri,
            promoted_at=production.promoted_at,
            promoted_by=production.promoted_by,
            action=production.action,
            reason=production.reason,
            previous_run_id=production.previous_run_id,
            history=[ProductionChangeOut.of(entry) for entry in production.history],
        )


class EvaluationOut(_Body):
    """The evaluator's verdict on a run's model."""

    run_id: str = Field(description="The evaluated run.")
    dataset: str
    decision: str = Field(description="The evaluator's decision, e.g. promoted or rejected.")
    evaluated_at: AwareDatetime = Field(description="When the report was stored.")
    report: dict[str, Any] = Field(
        description="The full report (metrics, gates, examples...), as the evaluator wrote it. Its "
        "Markdown rendering and charts: `GET /v1/evaluations/{run_id}/report.md` and `.../charts/{name}.png`."
    )

    @classmethod
    def of(cls, stored: dict[str, Any]) -> EvaluationOut:
        return cls(
            run_id=stored["run_id"],
            dataset=stored["dataset"],
            decision=stored["decision"],
            evaluated_at=stored["evaluated_at"],
            report=stored["report"],
        )


class DriftOut(_Body):
    """The latest continuous-evaluation check of a dataset's production model."""

    dataset: str
    run_id: str = Field(description="The production run checked.")
    checked_at: AwareDatetime
    records_total: int = Field(description="The writer's records_total for the dataset at the check.")
    report: dict[str, Any] = Field(
        description="The evaluator's drift report: per source and for the dataset, the metric on the records "
        "that arrived since the model's training next to its value at promotion, the status, which sources "
        "drove a drift, and the training request. Markdown: `GET /v1/models/{dataset}/drift.md`; chart: "
        "`GET /v1/models/{dataset}/drift/charts/drift.png`."
    )
    report_dir: str = Field(description="Where the report's files are (beside the model).")
    history: list[dict[str, Any]] = Field(
        description="One entry per check, oldest first (the chart's points)."
    )

    @classmethod
    def of(cls, check: DriftCheck) -> DriftOut:
        return cls(
            dataset=check.dataset,
            run_id=check.run_id,
            checked_at=check.checked_at,
            records_total=check.records_total,
            report=check.report,
            report_dir=check.report_dir,
            history=check.history,
        )


class ErrorDetail(_Body):
    code: str = Field(description="Stable, machine-readable: e.g. invalid_request, unknown_dataset.")
    message: str = Field(description="What went wrong, for people; names the offending fields.")


class ErrorOut(_Body):
    """The body of every error response."""

    error: ErrorDetail


class Status(_Body):
    status: str
