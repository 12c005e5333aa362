"""Continuous evaluation (drift), without the I/O: when to check, how the production model did on the
records that arrived since its training watermark compared with its evaluation at promotion, which
sources fell behind, and the report.

- A check is due when ``min_new_records`` arrived since the last check of the same production model
  (the writer's ``records_total``; before the first check, its ``records_since_training``), or when
  ``max_interval_s`` went by since the last check (or the promotion) and anything arrived at all.
- The baseline is the candidate's metrics in the evaluation report stored at promotion (measured on the
  run's eval split). A source the baseline knows is compared with its own value there; a source it does
  not know (a new domain) with the dataset's overall value.
- A source has drifted when its loss metric rose by more than ``margin`` (relative, from log values as
  the gates compare) on at least ``min_records_per_source`` fresh records; fewer records are reported,
  never judged. Any drifted source makes the dataset drifted; the report names them, worst first.
- One production model asks for at most one drift run per ``retry_after_s`` since its promotion: the
  idempotency key names the dataset, the production run, its data watermark and that time bucket, so any
  number of checks (or evaluator replicas) in the same window send the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from libs.schemas.events import RunId
from services.evaluator.core.config import DriftConfig
from services.evaluator.core.metrics import (
    LossMetric,
    LossStats,
    ModelMetrics,
    TaskStats,
    relative_change,
)
from services.evaluator.core.report import Chart

DRIFT_SCHEMA_VERSION: Final = 1
MAX_KEY_LENGTH: Final = 256  # the admin API's Idempotency-Key limit

SourceStatus = Literal["drifted", "ok", "too_few"]
RequestStatus = Literal[
    "requested", "replayed", "cooling_down", "refused", "failed", "disabled", "not_needed"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class LastCheck:
    """What the previous check left: the production run it checked, when, and the writer's total."""

    run_id: str
    checked_at: dt.datetime
    records_total: int


@dataclass(frozen=True, slots=True)
class Due:
    due: bool
    why: str
    new_records: int


def check_due(
    config: DriftConfig,
    run_id: str,
    promoted_at: dt.datetime,
    counters: Mapping[str, int],
    last: LastCheck | None,
    now: dt.datetime,
) -> Due:
    """Whether the production model ``run_id`` is due for a check (see the module's docstring)."""
    total = counters.get("records_total", 0)
    if last is not None and last.run_id == run_id:
        new, since = max(total - last.records_total, 0), last.checked_at
    else:
        new, since = max(counters.get("records_since_training", 0), 0), promoted_at
    if new >= config.min_new_records:
        return Due(True, f"{new} new records (>= {config.min_new_records})", new)
    if config.max_interval_s is not None and new > 0:
        elapsed = (now - since).total_seconds()
        if elapsed >= config.max_interval_s:
            return Due(True, f"{elapsed:.0f} s since the last check, {new} new records", new)
    return Due(False, f"{new} new records (< {config.min_new_records})", new)


def baseline_metrics(report: Mapping[str, Any] | None) -> ModelMetrics | None:
    """The promoted model's own metrics in its stored evaluation report (``candidate``); None when there
    is no report or it has no readable metrics."""
    if report is None:
        return None
    try:
        return ModelMetrics.model_validate(report["candidate"]["metrics"])
    except (KeyError, TypeError, ValidationError):
        return None


class TaskRow(_Frozen):
    examples: NonNegativeInt
    exact_match: float
    rouge_l: float

    @classmethod
    def of(cls, stats: TaskStats | None) -> TaskRow | None:
        if stats is None:
            return None
        return cls(examples=stats.examples, exact_match=stats.exact_match, rouge_l=stats.rouge_l)


class SourceDrift(_Frozen):
    """One source (or the whole dataset) now against the promotion baseline."""

    name: str
    examples: NonNegativeInt
    tokens: NonNegativeInt
    value: float = Field(description="The metric on the fresh records.")
    baseline: float | None = Field(description="The metric at promotion.")
    baseline_from: Literal["source", "dataset"] | None = Field(
        description="source: the source's own value at promotion; dataset: a new source, against the "
        "dataset's overall value."
    )
    change: float | None = Field(description="value / baseline - 1 (from log values).")
    accuracy: float
    baseline_accuracy: float | None
    task: TaskRow | None = None
    baseline_task: TaskRow | None = None
    status: SourceStatus


class TrainingRequestOutcome(_Frozen):
    status: RequestStatus
    idempotency_key: str | None = None
    run_id: str | None = None
    detail: str = ""


class DriftReport(_Frozen):
    schema_version: Literal[1] = DRIFT_SCHEMA_VERSION
    dataset: str
    run_id: RunId = Field(description="The production run checked.")
    model_uri: str
    checked_at: AwareDatetime
    window_start: AwareDatetime = Field(description="The model's data watermark: fresh records came after.")
    window_end: AwareDatetime
    trigger: str = Field(description="Why this check ran.")
    metric: LossMetric
    margin: float
    min_records_per_source: NonNegativeInt
    held_out_only: bool
    records: NonNegativeInt = Field(description="Fresh records evaluated.")
    has_baseline: bool
    overall: SourceDrift | None
    sources: list[SourceDrift]
    drifted: bool
    drove: list[str] = Field(description="The drifted sources, worst first: why a run was requested.")
    summary: str
    training: TrainingRequestOutcome
    charts: list[Chart] = Field(default_factory=list)


def _row(
    name: str,
    now: LossStats,
    then: LossStats | None,
    origin: Literal["source", "dataset"] | None,
    config: DriftConfig,
    task: TaskStats | None = None,
    baseline_task: TaskStats | None = None,
) -> SourceDrift:
    metric = config.metric
    change = relative_change(now, then, metric) if then is not None else None
    if now.examples < config.min_records_per_source or change is None:
        status: SourceStatus = "too_few" if now.examples < config.min_records_per_source else "ok"
    else:
        status = "drifted" if change > config.margin else "ok"
    return SourceDrift(
        name=name,
        examples=now.examples,
        tokens=now.tokens,
        value=getattr(now, metric),
        baseline=getattr(then, metric) if then is not None else None,
        baseline_from=origin if then is not None else None,
        change=change,
        accuracy=now.accuracy,
        baseline_accuracy=then.accuracy if then is not None else None,
        task=TaskRow.of(task),
        baseline_task=TaskRow.of(baseline_task),
        status=status,
    )


def compare(
    current: ModelMetrics, baseline: ModelMetrics | None, config: DriftConfig
) -> tuple[SourceDrift, list[SourceDrift]]:
    """The dataset's row and one row per source (by name), task metrics beside the losses (a source's
    at promotion when that report has them). Without a baseline nothing is judged."""
    then_tasks = baseline.task_by_source if baseline is not None else {}
    sources = []
    for name in sorted(current.by_source):
        then: LossStats | None = None
        origin: Literal["source", "dataset"] | None = None
        if baseline is not None:
            known = baseline.by_source.get(name)
            then, origin = (known, "source") if known is not None else (baseline.overall, "dataset")
        sources.append(
            _row(name, current.by_source[name], then, origin, config,
                 current.task_by_source.get(name), then_tasks.get(name))
        )  # fmt: skip
    overall = _row(
        "(dataset)",
        current.overall,
        baseline.overall if baseline is not None else None,
        "dataset" if baseline is not None else None,
        config,
        current.task,
        baseline.task if baseline is not None else None,
    )
    if overall.status == "drifted":  # the dataset row informs; sources decide
        overall = overall.model_copy(update={"status": "ok"})
    return overall, sources


def drove(sources: Sequence[SourceDrift]) -> list[str]:
    """The drifted sources, worst (largest rise) first."""
    drifted = [s for s in sources if s.status == "drifted"]
    return [s.name for s in sorted(drifted, key=lambda s: (-(s.change or 0.0), s.name))]


def summarize(sources: Sequence[SourceDrift], config: DriftConfig, has_baseline: bool) -> str:
    if not has_baseline:
        return "no evaluation report at promotion to compare with: reported, not judged"
    worst = drove(sources)
    judged = [s for s in sources if s.status != "too_few"]
    if worst:
        parts = [f"{s.name} {s.change:+.1%}" for s in sources if s.name in worst and s.change is not None]
        metric = config.metric.replace("_", " ")
        return f"drifted ({metric} more than {config.margin:.0%} above promotion): " + ", ".join(parts)
    if not judged:
        return f"no source has {config.min_records_per_source} fresh records yet: nothing judged"
    return f"no drift: {len(judged)} source(s) within +{config.margin:.0%} of promotion"


def idempotency_key(
    dataset: str,
    run_id: str,
    watermark: dt.datetime,
    promoted_at: dt.datetime,
    now: dt.datetime,
    retry_after_s: float,
) -> str:
    """The same for every check of one production model within one ``retry_after_s`` window."""
    bucket = max(int((now - promoted_at).total_seconds() // retry_after_s), 0)
    key = f"drift:{dataset}:{run_id}:{int(watermark.timestamp() * 1000)}:{bucket}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "drift:sha256:" + hashlib.sha256(key.encode()).hexdigest()


def history_entry(report: DriftReport) -> dict[str, Any]:
    """One point per check for the chart: the metric per source, the dataset's, and the baselines."""
    return {
        "at": report.checked_at.isoformat(),
        "run_id": report.run_id,
        "metric": report.metric,
        "overall": report.overall.value if report.overall else None,
        "sources": {s.name: s.value for s in report.sources if s.status != "too_few"},
        "baselines": {s.name: s.baseline for s in report.sources if s.baseline is not None},
        "drifted": report.drove,
    }


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _task(row: TaskRow | None) -> str:
    return "–" if row is None else f"{row.exact_match:.2f} / {row.rouge_l:.2f} (n={row.examples})"


def render_markdown(report: DriftReport) -> str:
    metric = report.metric.replace("_", " ")
    lines = [
        f"# Continuous evaluation: {report.dataset}",
        "",
        f"- production model: `{report.run_id}` ({report.model_uri})",
        f"- checked: {report.checked_at.isoformat()} ({report.trigger})",
        f"- fresh records: {report.records}, ingested {report.window_start.isoformat()} .. "
        f"{report.window_end.isoformat()}{' (eval side of the split only)' if report.held_out_only else ''}",
        f"- rule: a source with at least {report.min_records_per_source} records whose {metric} rose more "
        f"than {report.margin:.0%} over its value at promotion has drifted",
        "",
        f"**{'DRIFTED' if report.drifted else 'OK'}**: {report.summary}",
        "",
    ]
    training = report.training
    if report.drifted:
        lines += [f"Sources that drove it: {', '.join(report.drove)}.", ""]
    lines += [
        f"Training request: **{training.status}**"
        + (f", run `{training.run_id}`" if training.run_id else "")
        + (f" ({training.detail})" if training.detail else ""),
        "",
        "## Per source",
        "",
        f"| source | records | {metric} now | at promotion | change | compared with | accuracy now / then "
        "| exact match / ROUGE-L now | at promotion | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [*report.sources, *([report.overall] if report.overall else [])]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.examples} | {_num(row.value)} | {_num(row.baseline)} | {_pct(row.change)} "
            f"| {row.baseline_from or '–'} | {_num(row.accuracy, 3)} / {_num(row.baseline_accuracy, 3)} "
            f"| {_task(row.task)} | {_task(row.baseline_task)} | {row.status} |"
        )
    if report.overall is not None:
        lines += [
            "",
            "## Task metrics (dataset)",
            "",
            f"- now: exact match / ROUGE-L {_task(report.overall.task)}",
            f"- at promotion: {_task(report.overall.baseline_task)}",
        ]
    if report.charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{chart.title}]({chart.file})" for chart in report.charts]
    return "\n".join(lines) + "\n"
