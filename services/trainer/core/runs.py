"""A training run's record and lifecycle: queued -> running -> succeeded | failed | cancelled.

The record lives in DynamoDB (``RunStore``); every change of state is a conditional write on the state
it comes from, so two replicas can never both start, or both finish, the same run.
"""

from __future__ import annotations

import builtins
import datetime as dt
import secrets
from enum import StrEnum
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from libs.schemas.events import RunId, TriggerReason
from libs.schemas.records import DatasetName


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})
ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING})

# Which states each state may move to.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.FAILED, RunState.CANCELLED}),
    RunState.RUNNING: frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED}),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


def can_move(current: RunState, target: RunState) -> bool:
    return target in TRANSITIONS[current]


class Progress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    step: int = Field(default=0, ge=0)
    max_steps: int = Field(default=0, ge=0)
    epoch: float = Field(default=0.0, ge=0)
    phase: str = Field(default="queued", description="queued, snapshot, training, saving, done")


class RunRecord(BaseModel):
    """One training run as stored and as the admin API shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: RunId
    dataset: DatasetName
    state: RunState = RunState.QUEUED
    reason: TriggerReason
    requested_by: str
    idempotency_key: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict, description="The resolved TrainingConfig.")
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    progress: Progress = Progress()
    metrics: dict[str, float] = Field(default_factory=dict)
    cancel_requested: bool = False
    model_uri: str | None = None
    base_model: str | None = None
    data_watermark: AwareDatetime | None = None
    record_count: int = Field(default=0, ge=0)
    error: str | None = None
    owner: str | None = Field(default=None, description="The trainer replica executing it.")
    announced: bool | None = Field(
        default=None,
        description="False once the outcome is recorded, true once the broker acknowledged its "
        "TrainingCompleted (the outbox: a sweeper announces what stays false); None before it finishes.",
    )


def new_run_id(dataset: str, now: dt.datetime) -> str:
    """Sortable by creation time, unique without coordination: ``<dataset>-<UTC time>-<random>``."""
    return f"{dataset[:80]}-{now.astimezone(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


class RunStore(Protocol):
    """Where runs live (DynamoDB in production; a fake in unit tests)."""

    def create(self, run: RunRecord) -> tuple[RunRecord, bool]:
        """Store a new queued run. With an idempotency key already used, return that key's run and
        False instead (the same key never starts two runs)."""
        ...

    def get(self, run_id: str) -> RunRecord | None: ...

    def list(self, dataset: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        ...

    def move(self, run_id: str, source: set[RunState], target: RunState, **fields: Any) -> RunRecord | None:
        """Move the run to ``target`` (setting ``fields``) if its state is in ``source``; None otherwise."""
        ...

    def update(self, run_id: str, **fields: Any) -> None:
        """Set progress, metrics and the like, whatever the state."""
        ...

    def request_cancel(self, run_id: str) -> RunRecord | None:
        """Mark an active run for cancellation; a queued run is cancelled at once."""
        ...

    def unannounced(self) -> builtins.list[RunRecord]:
        """Finished runs whose TrainingCompleted the broker has not acknowledged (``announced`` False)."""
        ...

    def claim_announcement(self, run_id: str, owner: str, now_ms: int, hold_ms: int) -> bool:
        """Take the announcement of an unannounced run for ``hold_ms``: False when it is announced, or
        another claim holds it (so two replicas do not both send it while one is still trying)."""
        ...

    def mark_announced(self, run_id: str) -> None:
        """The broker acknowledged the run's TrainingCompleted."""
        ...
