"""Continuous evaluation's pure decisions: when a check is due, per-source comparison with the baseline at
promotion, the margin, the minimum of records, which sources drove it, the idempotency key, the report."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from services.evaluator.core.config import DriftConfig, EvaluatorConfig
from services.evaluator.core.drift import (
    DriftReport,
    LastCheck,
    TrainingRequestOutcome,
    baseline_metrics,
    check_due,
    compare,
    drove,
    history_entry,
    idempotency_key,
    render_markdown,
    summarize,
)
from services.evaluator.core.metrics import ExampleLoss, GenerationResult, ModelMetrics, task_by_source
from services.evaluator.core.metrics import summarize as summarize_metrics

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = DriftConfig(margin=0.15, min_records_per_source=5, min_new_records=100, max_interval_s=3600)


def losses(source: str, n: int, loss: float, start: int = 0) -> list[ExampleLoss]:
    """``n`` examples of 10 tokens each whose mean token NLL is ``loss``."""
    return [ExampleLoss(f"{source}-{start + i}", source, "support", loss * 10, 10, 5, 40) for i in range(n)]


def metrics(**sources: tuple[int, float]) -> ModelMetrics:
    items = [item for name, (n, loss) in sources.items() for item in losses(name, n, loss)]
    return summarize_metrics("tok", items)


# ---- when ------------------------------------------------------------------------------------------


def test_first_check_counts_records_since_training() -> None:
    counters = {"records_total": 5000, "records_since_training": 120}
    due = check_due(CONFIG, "run-1", T0, counters, None, T0 + dt.timedelta(minutes=1))
    assert due.due and due.new_records == 120
    counters["records_since_training"] = 99
    assert not check_due(CONFIG, "run-1", T0, counters, None, T0 + dt.timedelta(minutes=1)).due


def test_later_checks_count_from_the_last_checks_total() -> None:
    last = LastCheck("run-1", T0, records_total=1000)
    soon = T0 + dt.timedelta(minutes=5)
    assert not check_due(CONFIG, "run-1", T0, {"records_total": 1099}, last, soon).due
    assert check_due(CONFIG, "run-1", T0, {"records_total": 1100}, last, soon).due


def test_the_schedule_checks_after_max_interval_when_anything_arrived() -> None:
    last = LastCheck("run-1", T0, records_total=1000)
    later = T0 + dt.timedelta(seconds=3600)
    assert check_due(CONFIG, "run-1", T0, {"records_total": 1001}, last, later).due
    assert not check_due(CONFIG, "run-1", T0, {"records_total": 1000}, last, later).due  # nothing new
    off = CONFIG.model_copy(update={"max_interval_s": None})
    assert not check_due(off, "run-1", T0, {"records_total": 1001}, last, later).due


def test_a_new_production_model_starts_over_from_its_own_counter() -> None:
    last = LastCheck("run-1", T0, records_total=1000)
    due = check_due(CONFIG, "run-2", T0, {"records_total": 1000, "records_since_training": 150}, last, T0)
    assert due.due and due.new_records == 150


# ---- compare ---------------------------------------------------------------------------------------


def test_a_source_beyond_the_margin_drifts_and_drives_the_request() -> None:
    baseline = metrics(helpdesk=(20, 2.0), wiki=(20, 2.0))
    current = metrics(helpdesk=(20, 2.0 + math.log(1.10)), wiki=(20, 2.0 + math.log(1.50)))
    overall, sources = compare(current, baseline, CONFIG)
    by_name = {s.name: s for s in sources}
    assert by_name["helpdesk"].status == "ok"
    assert by_name["helpdesk"].change == pytest.approx(0.10)
    assert by_name["wiki"].status == "drifted" and by_name["wiki"].change == pytest.approx(0.50)
    assert by_name["wiki"].baseline_from == "source"
    assert drove(sources) == ["wiki"]
    assert overall.status == "ok" and overall.change is not None and overall.change > 0  # informs only
    assert "wiki +50.0%" in summarize(sources, CONFIG, True)


def test_an_improvement_or_equal_value_is_no_drift() -> None:
    baseline = metrics(helpdesk=(20, 2.0))
    _, sources = compare(metrics(helpdesk=(20, 1.5)), baseline, CONFIG)
    assert sources[0].status == "ok" and (sources[0].change or 0) < 0
    _, sources = compare(metrics(helpdesk=(20, 2.0 + math.log(1.15))), baseline, CONFIG)
    assert sources[0].status == "ok"  # exactly at the margin: not beyond it


def test_a_source_with_too_few_records_is_reported_not_judged() -> None:
    baseline = metrics(helpdesk=(20, 2.0))
    _, sources = compare(metrics(helpdesk=(4, 9.0)), baseline, CONFIG)
    assert sources[0].status == "too_few" and drove(sources) == []
    assert "nothing judged" in summarize(sources, CONFIG, True)


def test_a_new_source_is_compared_with_the_dataset_overall() -> None:
    baseline = metrics(helpdesk=(20, 2.0), wiki=(20, 3.0))
    _, sources = compare(metrics(newdomain=(20, 4.0)), baseline, CONFIG)
    row = sources[0]
    assert row.baseline_from == "dataset"
    assert row.change == pytest.approx(math.expm1(4.0 - 2.5))
    assert row.status == "drifted"


def test_without_a_baseline_nothing_is_judged() -> None:
    overall, sources = compare(metrics(helpdesk=(20, 9.0)), None, CONFIG)
    assert sources[0].status == "ok" and sources[0].baseline is None and overall.baseline is None
    assert drove(sources) == []
    assert summarize(sources, CONFIG, False).startswith("no evaluation report")


def test_drove_lists_the_worst_first() -> None:
    baseline = metrics(a=(20, 2.0), b=(20, 2.0), c=(20, 2.0))
    _, sources = compare(metrics(a=(20, 2.3), b=(20, 2.9), c=(20, 2.0)), baseline, CONFIG)
    assert drove(sources) == ["b", "a"]


def test_byte_perplexity_can_be_the_metric() -> None:
    config = CONFIG.model_copy(update={"metric": "byte_perplexity"})
    baseline = metrics(a=(20, 2.0))
    _, sources = compare(metrics(a=(20, 3.0)), baseline, config)
    assert sources[0].value == pytest.approx(math.exp(3.0 * 10 / 40))
    assert sources[0].status == "drifted"


def test_task_metrics_per_source() -> None:
    gens = [
        GenerationResult("1", "a", "d", "yes", "yes", 1.0),
        GenerationResult("2", "a", "d", "no", "yes", 0.0),
        GenerationResult("3", "b", "d", "some text"),  # plain text: no reference
    ]
    tasks = task_by_source(gens)
    assert set(tasks) == {"a"} and tasks["a"].exact_match == 0.5 and tasks["a"].rouge_l == 0.5
    then = summarize_metrics("tok", losses("a", 20, 2.0) + losses("b", 20, 2.0), gens[:1] + gens[2:])
    now = summarize_metrics("tok", losses("a", 20, 2.0) + losses("b", 20, 2.0), gens)
    overall, sources = compare(now, then, CONFIG)
    row = {s.name: s for s in sources}["a"]
    assert row.task is not None and row.task.exact_match == 0.5
    assert row.baseline_task is not None and row.baseline_task.exact_match == 1.0
    assert {s.name: s for s in sources}["b"].task is None
    assert overall.task is not None and overall.baseline_task is not None


def test_baseline_comes_from_the_candidate_of_the_stored_report() -> None:
    stored = {"candidate": {"metrics": metrics(a=(3, 2.0)).model_dump(mode="json")}}
    parsed = baseline_metrics(stored)
    assert parsed is not None and parsed.by_source["a"].examples == 3
    assert baseline_metrics(None) is None
    assert baseline_metrics({"candidate": {"metrics": {"nope": 1}}}) is None


# ---- idempotency -----------------------------------------------------------------------------------


def test_the_key_is_stable_within_a_window_and_changes_after_it() -> None:
    wm = T0 - dt.timedelta(hours=1)
    first = idempotency_key("support", "run-1", wm, T0, T0 + dt.timedelta(minutes=1), 86400)
    assert first == idempotency_key("support", "run-1", wm, T0, T0 + dt.timedelta(hours=23), 86400)
    assert first != idempotency_key("support", "run-1", wm, T0, T0 + dt.timedelta(hours=25), 86400)
    assert first != idempotency_key("support", "run-2", wm, T0, T0 + dt.timedelta(minutes=1), 86400)
    assert first != idempotency_key("docs", "run-1", wm, T0, T0 + dt.timedelta(minutes=1), 86400)
    long = idempotency_key("d" * 128, "r" * 128, wm, T0, T0, 86400)
    assert len(long) <= 256 and long.startswith("drift:sha256:")


# ---- report ----------------------------------------------------------------------------------------


def test_report_markdown_and_history_name_the_sources() -> None:
    baseline = metrics(helpdesk=(20, 2.0), wiki=(20, 2.0))
    overall, sources = compare(metrics(helpdesk=(20, 2.0), wiki=(20, 3.0)), baseline, CONFIG)
    report = DriftReport(
        dataset="support", run_id="support-1", model_uri="/m/support-1", checked_at=T0,
        window_start=T0 - dt.timedelta(hours=1), window_end=T0, trigger="150 new", metric="perplexity",
        margin=0.15, min_records_per_source=5, held_out_only=True, records=40, has_baseline=True,
        overall=overall, sources=sources, drifted=True, drove=drove(sources),
        summary=summarize(sources, CONFIG, True),
        training=TrainingRequestOutcome(status="requested", idempotency_key="k", run_id="support-2"),
    )  # fmt: skip
    text = render_markdown(report)
    assert "DRIFTED" in text and "Sources that drove it: wiki." in text and "support-2" in text
    assert "| wiki | 20 |" in text
    entry = history_entry(report)
    assert entry["drifted"] == ["wiki"] and set(entry["sources"]) == {"helpdesk", "wiki"}
    assert DriftReport.model_validate_json(report.model_dump_json()) == report


def test_the_shipped_defaults_are_valid() -> None:
    config = EvaluatorConfig().drift
    assert config.enabled and 0 < config.margin < 1 and config.min_records_per_source >= 1
