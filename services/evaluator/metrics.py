"""The evaluator's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter("tuneline_evaluator_decisions_total", "Evaluations by decision", ["dataset", "decision"])
DEAD_LETTERS = Counter("tuneline_evaluator_dead_letters_total", "Events sent to evaluator.dlq")
EVALUATION_SECONDS = Histogram(
    "tuneline_evaluator_evaluation_seconds",
    "Time to evaluate one run (both models, privacy checks, report)",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600),
)

DRIFT_CHECKS = Counter(
    "tuneline_evaluator_drift_checks_total",
    "Continuous-evaluation checks by result (drifted, ok, no_records, not_due, error)",
    ["dataset", "result"],
)
DRIFT_RUNS = Counter(
    "tuneline_evaluator_drift_run_requests_total",
    "Training requests after a drift, by outcome (requested, replayed, cooling_down, refused, failed)",
    ["dataset", "outcome"],
)
DRIFT_SOURCE_METRIC = Gauge(
    "tuneline_evaluator_drift_source_metric",
    "The production model's loss metric on a source's fresh records at the last check",
    ["dataset", "source", "metric"],
)
DRIFT_SOURCE_CHANGE = Gauge(
    "tuneline_evaluator_drift_source_change",
    "Relative change of that metric against the evaluation at promotion (0.2: 20% worse)",
    ["dataset", "source"],
)
DRIFT_SECONDS = Histogram(
    "tuneline_evaluator_drift_check_seconds",
    "Time of one continuous-evaluation check (read, measure, report)",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
)

REJECTED_EVENTS = Counter(
    "tuneline_evaluator_rejected_events_total",
    "TrainingCompleted events dead-lettered because the runs table does not back them "
    "(unknown_run, run_not_succeeded, event_disagrees_with_run, unsafe_model_key)",
    ["reason"],
)
RETRIES = Counter(
    "tuneline_evaluator_retries_total", "Transient S3/DynamoDB errors retried, by step", ["operation"]
)
RESUMED = Counter(
    "tuneline_evaluator_resumed_total",
    "Events of runs already evaluated, by what was left to do (nothing, promotion, events)",
    ["completed"],
)
