"""The evaluator's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISIONS = Counter("tuneline_evaluator_decisions_total", "Evaluations by decision", ["dataset", "decision"])
DEAD_LETTERS = Counter("tuneline_evaluator_dead_letters_total", "Events sent to evaluator.dlq")
EVALUATION_SECONDS = Histogram(
    "tuneline_evaluator_evaluation_seconds",
    "Time to evaluate one run (both models, privacy checks, report)",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600),
)
