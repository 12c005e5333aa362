"""Writes a report next to its model: ``evaluation.json``, ``evaluation.md`` and the PNG charts it links."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from libs.model_folder.files import EVALUATION_CHARTS_DIR, EVALUATION_JSON, EVALUATION_MARKDOWN
from services.evaluator.adapters import charts
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
