"""Training lifecycle events on the ``training.events`` topic, keyed by ``run_id``.

The topic carries several event types; ``type`` discriminates them (see ``TrainingEvent``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, NonNegativeInt

from libs.schemas.records import DatasetName, JsonMap, _Frozen

EVENT_SCHEMA_VERSION: Final = 1

RunId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


class TriggerReason(StrEnum):
    MANUAL = "manual"  # admin API
    THRESHOLD = "threshold"  # enough new records since the last run
    DRIFT = "drift"  # continuous evaluation: the production model fell behind on fresh records


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    PROMOTED = "promoted"
    REJECTED = "rejected"


class _Event(_Frozen):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    run_id: RunId
    dataset: DatasetName
    occurred_at: AwareDatetime


class TrainingRequested(_Event):
    type: Literal["training.requested"] = "training.requested"
    reason: TriggerReason
    requested_by: str = Field(min_length=1, max_length=256)
    idempotency_key: str | None = Field(default=None, max_length=256)
    overrides: JsonMap = Field(default_factory=dict, description="Training config overrides for this run.")


class TrainingCompleted(_Event):
    type: Literal["training.completed"] = "training.completed"
    status: RunStatus
    base_model: str
    model_uri: str | None = Field(
        default=None, description="Local folder or s3:// prefix; None unless succeeded."
    )
    data_watermark: AwareDatetime | None = None
    record_count: NonNegativeInt = 0
    metrics: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


class GateResult(_Frozen):
    name: str
    value: float | None
    threshold: float | None
    passed: bool
    detail: str = ""


class EvaluationCompleted(_Event):
    type: Literal["evaluation.completed"] = "evaluation.completed"
    model_uri: str
    decision: Decision
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    report_uri: str | None = None


class PromotionAction(StrEnum):
    PROMOTE = "promote"  # the evaluator's gates passed
    MANUAL = "manual"  # an operator's override on the admin API
    ROLLBACK = "rollback"  # back to the previous production model


class ModelPromoted(_Event):
    """The dataset's ``production`` alias moved: a serving deployment reloads ``model_uri``."""

    type: Literal["model.promoted"] = "model.promoted"
    model_uri: str
    previous_run_id: str | None = None
    action: PromotionAction
    by: str = Field(min_length=1, max_length=256)
    reason: str = Field(default="", max_length=2000)


TrainingEvent = Annotated[
    TrainingRequested | TrainingCompleted | EvaluationCompleted | ModelPromoted, Field(discriminator="type")
]
