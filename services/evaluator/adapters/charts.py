"""PNG charts for the report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402 - the backend is chosen first
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from services.evaluator.core.report import EvaluationReport  # noqa: E402

_CANDIDATE, _PRODUCTION = "#1f77b4", "#aaaaaa"
_DPI = 110


def loss_curve(points: Sequence[tuple[int, float]], path: Path, title: str = "Training loss") -> Path:
    """The training loss by step (from the run's logs)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        steps = [step for step, _ in points]
        losses = [loss for _, loss in points]
        ax.plot(steps, losses, color=_CANDIDATE, linewidth=1.5, marker="." if len(points) < 50 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path


def _bars(ax: Axes, names: Sequence[str], candidate: Sequence[float], production: Sequence[float]) -> None:
    width = 0.38
    xs = range(len(names))
    ax.bar([x - width / 2 for x in xs], candidate, width, label="candidate", color=_CANDIDATE)
    ax.bar([x + width / 2 for x in xs], production, width, label="production", color=_PRODUCTION)
    ax.set_xticks(
        list(xs),
        list(names),
        rotation=30 if len(names) > 4 else 0,
        ha="right" if len(names) > 4 else "center",
    )
    ax.grid(axis="y", alpha=0.3)


def metric_bars(report: EvaluationReport, path: Path) -> Path:
    """Candidate vs production, one panel per metric (each on its own scale)."""
    cand, prod = report.candidate.metrics, report.production.metrics
    panels: list[tuple[str, float, float]] = [
        (
            report.comparison_metric.replace("_", " "),
            getattr(cand.overall, report.comparison_metric),
            getattr(prod.overall, report.comparison_metric),
        ),
        ("next-token accuracy", cand.overall.accuracy, prod.overall.accuracy),
    ]
    if cand.task is not None and prod.task is not None:
        panels += [("exact match", cand.task.exact_match, prod.task.exact_match)]
        panels += [("ROUGE-L", cand.task.rouge_l, prod.task.rouge_l)]
    if cand.health is not None and prod.health is not None:
        panels += [("empty outputs", cand.health.empty_rate, prod.health.empty_rate)]
        panels += [("repetition rate", cand.health.repetition_rate, prod.health.repetition_rate)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels) + 1, 3.2), squeeze=False)
    try:
        for ax, (name, c, p) in zip(axes[0], panels, strict=True):
            bars = ax.bar([0, 1], [c, p], color=[_CANDIDATE, _PRODUCTION])
            ax.bar_label(bars, fmt="%.3g", fontsize=8)
            ax.set_ylim(0, max(c, p) * 1.2 or 1.0)  # all-zero rates still get a sensible axis
            ax.set_xticks([0, 1], ["cand.", "prod."])
            ax.set_title(name, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"Run {report.run_id}: candidate vs production", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path


def per_source_bars(report: EvaluationReport, path: Path) -> Path:
    """The compared metric (perplexity or byte perplexity) per source, candidate vs production."""
    metric = report.comparison_metric
    cand, prod = report.candidate.metrics.by_source, report.production.metrics.by_source
    names = sorted(cand.keys() & prod.keys())
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 2), 3.5))
    try:
        _bars(ax, names, [getattr(cand[n], metric) for n in names], [getattr(prod[n], metric) for n in names])
        ax.set_ylabel(metric.replace("_", " ") + " (lower is better)")
        ax.set_title("Per source")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path


def drift_history(
    history: Sequence[dict[str, Any]], path: Path, metric: str, title: str = "Continuous evaluation"
) -> Path:
    """The metric per source over the checks (a line each), the latest baselines at promotion dashed in
    the same colour, and a vertical line where the production model changed."""
    fig, ax = plt.subplots(figsize=(8, 4))
    try:
        # matplotlib's date numbers: days since its epoch, 1970-01-01 UTC (xaxis_date formats them)
        times = [dt.datetime.fromisoformat(h["at"]).timestamp() / 86400 for h in history]
        names = sorted({name for h in history for name in h.get("sources", {})})
        colours = plt.get_cmap("tab10")
        for number, name in enumerate(names):
            colour = colours(number % 10)
            points = [
                (t, h["sources"][name]) for t, h in zip(times, history, strict=True) if name in h["sources"]
            ]
            ax.plot([t for t, _ in points], [v for _, v in points], marker="o", color=colour, label=name)
            baseline = history[-1].get("baselines", {}).get(name) if history else None
            if baseline is not None:
                ax.axhline(baseline, color=colour, linestyle="--", linewidth=1, alpha=0.7)
        for before, after, at in zip(history, history[1:], times[1:], strict=False):
            if before.get("run_id") != after.get("run_id"):
                ax.axvline(at, color="#888888", linestyle=":", linewidth=1)
        values = [v for h in history for v in h.get("sources", {}).values()]
        values += [v for v in history[-1].get("baselines", {}).values() if v] if history else []
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")  # a drifted source can sit orders of magnitude above the others
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]  # matplotlib's stubs
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_ylabel(metric.replace("_", " ") + " (lower is better)")
        ax.set_title(f"{title} (dashed: at promotion)")
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path
