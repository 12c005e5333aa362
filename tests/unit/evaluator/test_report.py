from __future__ import annotations

import datetime as dt

from libs.schemas.events import Decision, EvaluationCompleted
from services.evaluator.core.report import EvaluationReport, event_metrics, render_markdown

from .helpers import metrics, report


def test_the_report_round_trips_through_json() -> None:
    original = report()
    assert EvaluationReport.model_validate_json(original.model_dump_json()) == original


def test_markdown_lists_every_gate_with_value_threshold_and_result() -> None:
    rep = report(candidate=metrics(loss=1.8, exact=0.3))
    text = render_markdown(rep)
    assert text.startswith("# Evaluation of run `run-1`: REJECTED")
    for gate in rep.gates:
        assert f"| {gate.name} |" in text
    assert "| task.exact_match_drop | 0.2 | 0.02 | **FAIL** |" in text
    assert (
        "| privacy.pii_rate_increase | -0.01 |" in text
        and "| privacy.reproduced_pii | 0 | 0 | pass |" in text
    )


def test_markdown_compares_candidate_and_production_per_source() -> None:
    text = render_markdown(report(candidate=metrics(per_source={"support": 1.5, "wiki": 2.0})))
    assert "### Per source" in text
    support = next(line for line in text.splitlines() if line.startswith("| support |"))
    assert "-39.35%" in support  # exp(1.5 - 2.0) - 1
    assert "| canary | exposure (bits) |" in text and "| c1 |" in text


def test_event_metrics_feed_an_evaluation_completed_event() -> None:
    rep = report()
    flat = event_metrics(rep)
    assert flat["candidate.loss"] == rep.candidate.metrics.overall.loss
    assert flat["privacy.canaries"] == 2.0 and "privacy.max_exposure" in flat
    event = EvaluationCompleted(
        run_id=rep.run_id,
        dataset=rep.dataset,
        occurred_at=dt.datetime.now(dt.UTC),
        model_uri=rep.candidate.uri,
        decision=rep.decision,
        metrics=flat,
        gates=rep.gates,
    )
    assert event.decision is Decision.PROMOTED
