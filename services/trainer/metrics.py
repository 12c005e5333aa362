"""The trainer's Prometheus metrics (the admin API's request counter lives with the API)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RUNS_STARTED = Counter("tuneline_trainer_runs_started_total", "Runs started", ["dataset", "reason"])
RUNS_FINISHED = Counter("tuneline_trainer_runs_finished_total", "Runs finished", ["dataset", "state"])
RUN_ACTIVE = Gauge("tuneline_trainer_run_active", "1 while this replica runs a training job")
EVENTS_FAILED = Counter("tuneline_trainer_events_failed_total", "TrainingCompleted events not delivered")
REANNOUNCED = Counter(
    "tuneline_trainer_events_reannounced_total", "TrainingCompleted events sent by the outbox sweeper"
)
UNANNOUNCED_RUNS = Gauge(
    "tuneline_trainer_unannounced_runs", "Finished runs whose TrainingCompleted awaits the broker"
)
SCHEDULER_CHECKS = Counter(
    "tuneline_trainer_scheduler_checks_total",
    "Threshold checks per dataset and outcome",
    ["dataset", "outcome"],
)
RECORDS_SINCE_TRAINING = Gauge(
    "tuneline_trainer_records_since_training",
    "The writer's counter as the scheduler last read it",
    ["dataset"],
)
