from __future__ import annotations

import json
from pathlib import Path

from libs.model_folder.files import EVALUATION_JSON, EVALUATION_MARKDOWN
from services.evaluator.adapters.charts import drift_history, loss_curve
from services.evaluator.adapters.report_files import save_report
from services.evaluator.core.report import EvaluationReport

from .helpers import report

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_loss_curve_is_a_png(tmp_path: Path) -> None:
    path = loss_curve([(step, 3.0 / (1 + step)) for step in range(0, 200, 10)], tmp_path / "loss.png")
    assert path.read_bytes().startswith(PNG)


def test_a_saved_report_has_json_markdown_and_the_charts_it_links(tmp_path: Path) -> None:
    saved = save_report(report(), tmp_path, loss_curve=[(1, 2.5), (2, 2.0), (3, 1.7)])
    files = [chart.file for chart in saved.charts]
    assert files == ["charts/training_loss.png", "charts/metrics.png", "charts/per_source.png"]
    for file in files:
        assert (tmp_path / file).read_bytes().startswith(PNG)
    assert EvaluationReport.model_validate(json.loads((tmp_path / EVALUATION_JSON).read_text())) == saved
    markdown = (tmp_path / EVALUATION_MARKDOWN).read_text()
    assert all(f"]({file})" in markdown for file in files)


def test_without_a_loss_curve_only_the_comparisons_are_drawn(tmp_path: Path) -> None:
    saved = save_report(report(), tmp_path)
    assert [chart.title for chart in saved.charts] == ["Candidate vs production", "Per source"]


def test_the_drift_chart_draws_every_source_over_the_checks(tmp_path: Path) -> None:
    history = [
        {
            "at": f"2026-12-06T1{hour}:00:00+00:00",
            "run_id": "a" if hour < 3 else "b",  # a promotion between checks: a vertical line
            "sources": {"support": 1.8, **({"wiki": 2000.0 if hour > 1 else 1.5} if hour else {})},
            "baselines": {"support": 2.0, "wiki": 1.5},
        }
        for hour in range(5)
    ]
    assert drift_history(history, tmp_path / "drift.png", "perplexity").read_bytes().startswith(PNG)
    assert drift_history([], tmp_path / "empty.png", "byte_perplexity").read_bytes().startswith(PNG)
