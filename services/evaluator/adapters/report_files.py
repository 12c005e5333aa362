"""Writes a report next to its model: ``evaluation.json``, ``evaluation.md`` and the PNG charts it links;
the continuous evaluation's ``drift/drift.json``, ``drift/drift.md`` and ``drift/charts/drift.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from libs.model_folder.files import (
    DRIFT_JSON,
    DRIFT_MARKDOWN,
    EVALUATION_CHARTS_DIR,
    EVALUATION_JSON,
    EVALUATION_MARKDOWN,
)
from services.evaluator.adapters import charts
from services.evaluator.core.drift import DriftReport
from services.evaluator.core.drift import render_markdown as render_drift_markdown
from services.evaluator.core.report import (
    Chart,
    EvaluationReport,
    render_markdown,
)


def save_report(
    report: EvaluationReport, folder: Path, loss_curve: Sequence[tuple[int, float]] = ()
) -> EvaluationReport:
    """Draw the charts, write the JSON and the Markdown into ``folder``; returns the report with its
    charts listed (paths relative to ``folder``)."""
    out = folder / EVALUATION_CHARTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[Chart] = []
    if loss_curve:
        charts.loss_curve(loss_curve, out / "training_loss.png")
        drawn.append(Chart(title="Training loss", file=f"{EVALUATION_CHARTS_DIR}/training_loss.png"))
    charts.metric_bars(report, out / "metrics.png")
    drawn.append(Chart(title="Candidate vs production", file=f"{EVALUATION_CHARTS_DIR}/metrics.png"))
    charts.per_source_bars(report, out / "per_source.png")
    drawn.append(Chart(title="Per source", file=f"{EVALUATION_CHARTS_DIR}/per_source.png"))
    report = report.model_copy(update={"charts": drawn})
    (folder / EVALUATION_JSON).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (folder / EVALUATION_MARKDOWN).write_text(render_markdown(report), encoding="utf-8")
    return report


DRIFT_CHART: Final = "drift"


def save_drift_report(report: DriftReport, folder: Path, history: Sequence[dict[str, Any]]) -> DriftReport:
    """Draw the metric-over-time chart from ``history`` (this check last), write ``drift.json`` and
    ``drift.md`` into ``folder``; returns the report with its chart listed (relative to ``folder``)."""
    out = folder / EVALUATION_CHARTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    charts.drift_history(history, out / f"{DRIFT_CHART}.png", report.metric, f"{report.dataset}: per source")
    chart = Chart(title="Metric per source over time", file=f"{EVALUATION_CHARTS_DIR}/{DRIFT_CHART}.png")
    report = report.model_copy(update={"charts": [chart]})
    (folder / DRIFT_JSON).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    (folder / DRIFT_MARKDOWN).write_text(render_drift_markdown(report), encoding="utf-8")
    return report
