"""Which ``TrainingCompleted`` events the evaluator acts on: only those the runs table backs.

Anyone who can write to ``training.events`` could name any folder or ``s3://`` bucket as a model and get
it evaluated and promoted. The trainer records a run's outcome (state, model URI, base model) in the
runs table before it announces it, so the evaluator reads that record and uses its model URI alone; an
event the record does not back is dead-lettered with one of these reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from libs.schemas import TrainingCompleted
from libs.storage.runs import RunSummary

UNKNOWN_RUN: Final = "unknown_run"
RUN_NOT_SUCCEEDED: Final = "run_not_succeeded"
EVENT_DISAGREES: Final = "event_disagrees_with_run"
SUCCEEDED: Final = "succeeded"


@dataclass(frozen=True, slots=True)
class Untrusted:
    reason: str
    detail: str


def check_event(event: TrainingCompleted, run: RunSummary | None) -> Untrusted | None:
    """None when ``run`` (the stored record of ``event.run_id``) backs ``event``; else why not."""
    if run is None:
        return Untrusted(UNKNOWN_RUN, f"no run {event.run_id!r} in the runs table")
    if run.state != SUCCEEDED or not run.model_uri:
        return Untrusted(
            RUN_NOT_SUCCEEDED, f"run {event.run_id!r} is {run.state!r} in the runs table, with no model"
        )
    recorded = {"dataset": run.dataset, "model_uri": run.model_uri, "base_model": run.base_model}
    claimed = {"dataset": event.dataset, "model_uri": event.model_uri, "base_model": event.base_model}
    differ = [
        f"{name}: event {claimed[name]!r}, recorded {value!r}"
        for name, value in recorded.items()
        if value is not None and claimed[name] != value  # a record without a base model checks the rest
    ]
    if differ:
        return Untrusted(EVENT_DISAGREES, f"run {event.run_id!r}: " + "; ".join(differ))
    return None
