"""How the demo looks: the live view while the pipeline runs and the summary at the end. Pure functions
of the data they are given (no I/O), so they are tested without a pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from examples.demo.monitor import PipelineView


def _n(value: float | int | None) -> str:
    return "?" if value is None else f"{int(value):,}"


def _by(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {_n(v)}" for k, v in sorted(values.items(), key=lambda kv: -kv[1])) or "-"


def phase_of(view: PipelineView) -> str:
    if view.decision is not None:
        return f"decided: {view.decision}"
    if view.training is not None:
        if view.training.state == "succeeded":
            return "evaluating the new model against the base"
        return view.training.activity
    if sum(view.stored.values()):
        return "storing records until the support dataset reaches its training threshold"
    if sum(view.collected.values()):
        return "collecting and sanitizing"
    return "starting services"


def live(view: PipelineView, elapsed_s: float, threshold: int) -> RenderableType:
    table = Table(title="tuneline pipeline", title_justify="left", expand=True)
    table.add_column("stage", style="bold")
    table.add_column("records", justify="right")
    table.add_column("detail")
    table.add_row("collected", _n(sum(view.collected.values())), _by(view.collected))
    table.add_row(
        "sanitized",
        _n(sum(view.sanitizer_out.values())),
        f"in {_n(view.sanitizer_in)}; lag {_n(view.lag.get('sanitizer'))}; "
        f"dead letters {_n(view.sanitizer_dead_letters)}",
    )
    duplicates = {r: v for r, v in view.dropped.items() if "duplicate" in r}
    table.add_row("duplicates dropped", _n(view.duplicates), _by(duplicates))
    filtered = view.filtered
    table.add_row("filtered (features)", _n(sum(filtered.values())), _by(filtered))
    table.add_row("PII replaced", _n(sum(view.pii.values())), _by(view.pii))
    stored_support = view.stored.get("support", 0.0)
    table.add_row(
        "stored (DynamoDB)",
        _n(sum(view.stored.values())),
        f"{_by(view.stored)}; lag {_n(view.lag.get('writer'))}; "
        f"support {_n(stored_support)} / threshold {threshold}",
    )
    run = view.training
    if run is None:
        table.add_row("training", "-", "waiting for the threshold")
    else:
        loss = f"; loss {run.loss:.3f}" if run.loss is not None else ""
        table.add_row("training", _n(run.record_count), f"{run.run_id}: {run.activity}{loss}")
    table.add_row(
        "evaluation", "-", view.decision or ("running" if run and run.state == "succeeded" else "-")
    )
    status = Text(f"{elapsed_s:5.0f} s  {phase_of(view)}", style="cyan")
    if view.unreachable:
        status.append(f"   (not answering yet: {', '.join(view.unreachable)})", style="dim")
    return Group(table, status)


def progress_line(view: PipelineView) -> str:
    """The live view in one line, for a log."""
    return (
        f"collected {_n(sum(view.collected.values()))}, sanitized {_n(sum(view.sanitizer_out.values()))}, "
        f"stored {_n(sum(view.stored.values()))}, duplicates {_n(view.duplicates)}, "
        f"filtered {_n(sum(view.filtered.values()))}, "
        f"PII {_n(sum(view.pii.values()))} | {phase_of(view)}"
    )


@dataclass(frozen=True)
class Answer:
    question: str
    expected: str
    base: str
    tuned: str


@dataclass(frozen=True)
class ServedAnswer:
    """What the model server answered, and which run answered it (``<dataset>:<run id>``)."""

    question: str
    answer: str
    model: str
    seconds: float
    completion_tokens: int


def _metric_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    cand, prod = report["candidate"]["metrics"], report["production"]["metrics"]
    for key, label in (
        ("loss", "eval loss"),
        ("perplexity", "perplexity"),
        ("accuracy", "next-token accuracy"),
    ):
        rows.append((label, f"{prod['overall'][key]:.3f}", f"{cand['overall'][key]:.3f}"))
    if cand.get("task") and prod.get("task"):
        for key, label in (("exact_match", "exact match"), ("rouge_l", "ROUGE-L")):
            rows.append((label, f"{prod['task'][key]:.3f}", f"{cand['task'][key]:.3f}"))
    return rows


def summary(
    view: PipelineView,
    evaluation: Mapping[str, Any],
    answers: Sequence[Answer],
    model_uri: str,
    report_path: str,
    seconds: Mapping[str, float],
    served: ServedAnswer | None = None,
) -> RenderableType:
    report = evaluation["report"]
    run = view.training
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("records collected", f"{_n(sum(view.collected.values()))} ({_by(view.collected)})")
    facts.add_row("records stored", f"{_n(sum(view.stored.values()))} ({_by(view.stored)})")
    near = sum(v for k, v in view.dropped.items() if "near" in k)
    exact = view.duplicates - near
    facts.add_row("duplicates dropped", f"{_n(exact)} exact, {_n(near)} near")
    filtered = view.filtered
    facts.add_row("filtered (features)", f"{_n(sum(filtered.values()))} ({_by(filtered)})")
    facts.add_row("PII replaced", f"{_n(sum(view.pii.values()))} ({_by(view.pii)})")
    if run is not None:
        facts.add_row("training run", f"{run.run_id} ({run.record_count} records, {run.max_steps} steps)")
    facts.add_row("decision", Text(str(evaluation["decision"]).upper(), style="bold green"))
    facts.add_row("why", str(report.get("summary", "")))
    facts.add_row("model", model_uri)
    facts.add_row("report", report_path)
    facts.add_row("time", ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))

    metrics = Table(title="metrics: base (production) vs fine-tuned", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column(str(report["production"]["label"]), justify="right")
    metrics.add_column("fine-tuned", justify="right")
    for row in _metric_rows(report):
        metrics.add_row(*row)

    gates = Table(title="gates", title_justify="left")
    for column in ("gate", "value", "threshold", "result", "detail"):
        gates.add_column(column)
    for gate in report["gates"]:
        value, threshold = gate.get("value"), gate.get("threshold")
        gates.add_row(
            gate["name"],
            "-" if value is None else f"{value:.4g}",
            "-" if threshold is None else f"{threshold:.4g}",
            Text("pass", style="green") if gate["passed"] else Text("FAIL", style="bold red"),
            str(gate.get("detail", ""))[:80],
        )

    side = Table(
        title="held-out support questions: base vs fine-tuned", title_justify="left", show_lines=True
    )
    side.add_column("question", ratio=1)
    side.add_column("base model", ratio=2)
    side.add_column("fine-tuned", ratio=2)
    for answer in answers:
        side.add_row(answer.question, answer.base, answer.tuned)
    parts: list[RenderableType] = [
        Panel(facts, title="tuneline demo: summary", title_align="left"),
        metrics,
        gates,
        side,
    ]
    if served is not None:
        speed = served.completion_tokens / served.seconds if served.seconds > 0 else 0.0
        parts.append(
            Panel(
                Text.assemble(("Q: ", "bold"), served.question, "\n", ("A: ", "bold"), served.answer),
                title=f"the model server (OpenAI API) answers as {served.model}",
                subtitle=f"{served.completion_tokens} tokens, {served.seconds:.1f} s, {speed:.0f} tokens/s",
                title_align="left",
            )
        )
    return Group(*parts)
