"""The demo's live view and summary: what a person reads, from counters and the admin API's answers."""

from __future__ import annotations

from rich.console import Console

from examples.demo.monitor import PipelineView, TrainingView, by_label, parse_metrics
from examples.demo.view import Answer, live, phase_of, summary

METRICS = """\
# TYPE tuneline_sanitizer_dropped_total counter
tuneline_sanitizer_dropped_total{reason="duplicate"} 7.0
tuneline_sanitizer_dropped_total{reason="near_duplicate"} 3.0
tuneline_sanitizer_dropped_total{reason="too_short"} 1.0
tuneline_sanitizer_dropped_total{reason="filtered:lang"} 4.0
tuneline_sanitizer_dropped_total{reason="filtered:quality"} 2.0
# TYPE tuneline_sanitizer_pii_total counter
tuneline_sanitizer_pii_total{entity="EMAIL_ADDRESS"} 40.0
tuneline_sanitizer_pii_total{entity="PERSON"} 12.0
"""


def _text(renderable: object) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def _run(**progress: object) -> dict[str, object]:
    return {
        "run_id": "support-20261206t050000z-abcd",
        "state": "running",
        "progress": {"step": 0, "max_steps": 0, "epoch": 0.0, "phase": "training", **progress},
        "metrics": {"loss": 2.5},
        "record_count": 120,
        "model_uri": None,
        "error": None,
    }


def test_counters_are_read_by_label_and_summed() -> None:
    samples = parse_metrics(METRICS)
    assert by_label(samples, "tuneline_sanitizer_pii_total", "entity") == {
        "EMAIL_ADDRESS": 40.0,
        "PERSON": 12.0,
    }
    view = PipelineView.of({"sanitizer": samples})
    assert view.duplicates == 10.0  # exact and near, not the too-short drop
    assert view.filtered == {"lang": 4.0, "quality": 2.0}  # the feature filters, by reason


def test_live_view_counts_records_filtered_by_features_by_reason() -> None:
    view = PipelineView.of({"sanitizer": parse_metrics(METRICS)})
    text = _text(live(view, 1.0, threshold=100))
    row = next(line for line in text.splitlines() if "filtered (features)" in line)
    assert "6" in row and "lang 4" in row and "quality 2" in row
    duplicates = next(line for line in text.splitlines() if "duplicates dropped" in line)
    assert "filtered" not in duplicates and "duplicate 7" in duplicates


def test_training_never_reads_step_zero_of_zero_while_ray_starts() -> None:
    starting = TrainingView.of(_run())
    assert "0 / 0" not in starting.activity and "starting Ray" in starting.activity
    assert TrainingView.of(_run(step=12, max_steps=40)).activity == "training step 12 / 40"
    assert TrainingView.of({**_run(), "state": "succeeded"}).activity == "succeeded"


def test_phase_follows_the_pipeline() -> None:
    view = PipelineView()
    assert phase_of(view) == "starting services"
    view.collected = {"support": 10.0}
    assert "collecting" in phase_of(view)
    view.stored = {"support": 5.0}
    assert "threshold" in phase_of(view)
    view.training = TrainingView.of({**_run(), "state": "succeeded"})
    assert "evaluating" in phase_of(view)
    view.decision = "promoted"
    assert phase_of(view) == "decided: promoted"


def test_live_view_shows_every_stage() -> None:
    view = PipelineView.of({"sanitizer": parse_metrics(METRICS)})
    view.collected = {"support": 160.0, "app-logs": 20.0}
    view.training = TrainingView.of(_run(step=3, max_steps=9))
    text = _text(live(view, 42.0, threshold=100))
    for expected in (
        "collected",
        "180",
        "PII replaced",
        "EMAIL_ADDRESS 40",
        "training step 3 / 9",
        "threshold 100",
    ):
        assert expected in text


def _stats(loss: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": 2.718**loss, "accuracy": 0.5}


def test_summary_names_the_decision_gates_and_both_answers() -> None:
    report = {
        "summary": "all gates passed",
        "candidate": {"label": "candidate", "metrics": {"overall": _stats(1.2), "task": None}},
        "production": {"label": "base smollm2", "metrics": {"overall": _stats(2.0), "task": None}},
        "gates": [
            {"name": "perplexity", "value": 3.3, "threshold": 0.01, "passed": True, "detail": ""},
            {"name": "privacy.pii_rate", "value": 0.0, "threshold": 0.05, "passed": True, "detail": ""},
        ],
    }
    view = PipelineView(dropped={"duplicate": 4.0, "near_duplicate": 2.0, "too_short": 1.0})
    answers = [Answer("What does NH-217 mean?", "lost key", "I am not sure.", "Hold the Pair button.")]
    text = _text(
        summary(view, {"decision": "promoted", "report": report}, answers, "/m", "/m/r.md", {"total": 1})
    )
    for expected in (
        "PROMOTED",
        "4 exact, 2 near",
        "privacy.pii_rate",
        "base smollm2",
        "1.200",
        "Hold the Pair",
    ):
        assert expected in text
