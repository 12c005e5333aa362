"""When the scheduler starts a threshold run for a dataset: the decision, without the I/O.

The counter is a hint (the writer counts at least once, so replays inflate it): crossing the threshold
means "take a snapshot now", not "exactly N new records exist".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.trainer.core.config import DatasetPolicy


@dataclass(frozen=True, slots=True)
class CounterState:
    """The dataset's ``records_since_training`` and the start of its last run, if any."""

    records_since_training: int
    last_training_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    start: bool
    why: str


def decide(policy: DatasetPolicy, counter: CounterState, active_run: bool, now: dt.datetime) -> Decision:
    """Start a run when scheduling is on, no run is active, the threshold is reached and the cooldown
    since the last run's start has elapsed (both boundaries inclusive)."""
    if not policy.schedule:
        return Decision(False, "schedule off")
    if active_run:
        return Decision(False, "run active")
    count, threshold = counter.records_since_training, policy.threshold_records
    if count < threshold:
        return Decision(False, f"below threshold ({count} < {threshold})")
    if counter.last_training_at is not None:
        until = counter.last_training_at + dt.timedelta(seconds=policy.cooldown_s)
        if now < until:
            return Decision(False, f"cooling down until {until.isoformat()}")
    return Decision(True, f"threshold reached ({count} >= {threshold})")
