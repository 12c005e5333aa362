"""The evaluation report: JSON for machines (``EvaluationReport``), Markdown for people
(``render_markdown``), and the flat metrics an ``EvaluationCompleted`` event carries (``event_metrics``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt

from libs.schemas.events import Decision, GateResult, RunId
from services.evaluator.core.gates import PrivacyFindings
from services.evaluator.core.metrics import LossMetric, LossStats, ModelMetrics, relative_change
from services.evaluator.core.pii import PiiComparison

REPORT_SCHEMA_VERSION: Final = 2  # 2: privacy.pii compares candidate and reference, lists flagged spans


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class EvaluatedModel(_Frozen):
    uri: str = Field(description="Where the model lives (model store URI or folder).")
    label: str = Field(description="What it is: 'candidate <run>', 'production <run>', 'base <name>'.")
    metrics: ModelMetrics


class Chart(_Frozen):
    title: str
    file: str = Field(description="Path relative to the report.")


class EvaluationReport(_Frozen):
    schema_version: Literal[2] = REPORT_SCHEMA_VERSION
    run_id: RunId
    dataset: str
    created_at: AwareDatetime
    decision: Decision
    summary: str = Field(description="One line saying why.")
    gates: list[GateResult]
    candidate: EvaluatedModel
    production: EvaluatedModel
    privacy: PrivacyFindings
    eval_examples: NonNegativeInt
    comparison_metric: Literal["perplexity", "byte_perplexity"]
    timings_s: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict, description="The resolved evaluator config.")
    charts: list[Chart] = Field(default_factory=list)


def event_metrics(report: EvaluationReport) -> dict[str, float]:
    """The headline numbers for ``EvaluationCompleted.metrics`` (the full breakdown is in the report)."""
    out: dict[str, float] = {}
    for role, model in (("candidate", report.candidate), ("production", report.production)):
        m = model.metrics
        out[f"{role}.loss"] = m.overall.loss
        out[f"{role}.perplexity"] = m.overall.perplexity
        out[f"{role}.byte_perplexity"] = m.overall.byte_perplexity
        out[f"{role}.accuracy"] = m.overall.accuracy
        if m.task is not None:
            out[f"{role}.exact_match"] = m.task.exact_match
            out[f"{role}.rouge_l"] = m.task.rouge_l
        if m.health is not None:
            out[f"{role}.empty_rate"] = m.health.empty_rate
            out[f"{role}.repetition_rate"] = m.health.repetition_rate
    privacy = report.privacy
    out["privacy.canaries"] = float(len(privacy.canaries))
    out["privacy.canaries_completed"] = float(len(privacy.completed))
    if privacy.max_exposure is not None:
        out["privacy.max_exposure"] = privacy.max_exposure
    if privacy.pii is not None:
        out["privacy.pii_rate"] = privacy.pii.candidate.rate
        out["privacy.reference_pii_rate"] = privacy.pii.reference.rate
        out["privacy.reproduced_pii"] = float(privacy.pii.reproduced_values)
    out["eval_examples"] = float(report.eval_examples)
    return out


# DynamoDB refuses items over 400 KB; the registry's copy of a report stays well below that.
STORED_REPORT_MAX_BYTES: Final = 300_000


def stored_report(report: EvaluationReport, max_bytes: int = STORED_REPORT_MAX_BYTES) -> dict[str, Any]:
    """The report as the registry stores it: whole when it fits in ``max_bytes`` of JSON, else with the
    least telling flagged spans left out (reproduced ones are kept first, then the candidate's that the
    reference did not write, then the rest) and their number in ``spans_omitted``."""
    full = report.model_dump(mode="json")
    pii = report.privacy.pii
    if pii is None or len(json.dumps(full)) <= max_bytes:
        return full
    ranked = sorted(
        pii.spans,
        key=lambda s: (not s.reproduced, s.model != "candidate" or s.in_other_model, s.model != "candidate"),
    )
    without = len(json.dumps(full)) - sum(len(json.dumps(s.model_dump(mode="json"))) + 2 for s in pii.spans)
    room, kept = max_bytes - without - 64, []
    for span in ranked:
        size = len(json.dumps(span.model_dump(mode="json"))) + 2
        if size > room:
            break
        kept.append(span)
        room -= size
    trimmed = pii.model_copy(update={"spans": kept, "spans_omitted": len(pii.spans) - len(kept)})
    privacy = report.privacy.model_copy(update={"pii": trimmed})
    return report.model_copy(update={"privacy": privacy}).model_dump(mode="json")


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _loss_rows(
    names: Sequence[str],
    candidate: dict[str, LossStats],
    production: dict[str, LossStats],
    metric: LossMetric,
) -> list[list[str]]:
    rows = []
    for name in names:
        cand, prod = candidate.get(name), production.get(name)
        row = [name, str(cand.examples if cand else 0), str(cand.tokens if cand else 0)]
        for stats in (cand, prod):
            row.append(_num(getattr(stats, metric)) if stats else "–")
        if cand and prod:
            row.append(f"{relative_change(cand, prod, metric):+.2%}")
        else:
            row.append("–")
        row += [_num(cand.accuracy if cand else None, 3), _num(prod.accuracy if prod else None, 3)]
        rows.append(row)
    return rows


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _pii_section(pii: PiiComparison) -> list[str]:
    """Counts per entity type for both models, then every flagged span, redacted."""
    cand, ref = pii.candidate, pii.reference
    lines = [
        "### PII in generations",
        "",
        "Both models continued the same prompts with the same sampling settings and seed; the "
        "sanitizer's detector flagged these values (its own placeholders are not counted).",
        "",
    ]
    rows = [
        ["generations with PII", f"{cand.with_pii}/{cand.generations}", f"{ref.with_pii}/{ref.generations}"]
    ]
    rows.append(["rate", f"{cand.rate:.2%}", f"{ref.rate:.2%}"])
    for entity in sorted(cand.entities.keys() | ref.entities.keys()):
        rows.append([entity, str(cand.entities.get(entity, 0)), str(ref.entities.get(entity, 0))])
    lines += _table(["", "candidate", "reference"], rows)
    if not pii.spans and not pii.spans_omitted:
        return [*lines, "", "No value was flagged."]
    lines += [
        "",
        f"Flagged spans ({len(pii.spans)}; values masked, hash keyed: equal hashes are equal values; "
        "prompt: index of the generation prompt, sample: the sampled draw, empty for greedy). "
        "**Reproduced** means: in the training data, not in its own prompt, never written by the "
        "reference: a leak.",
        "",
    ]
    ordered = sorted(pii.spans, key=lambda s: (not s.reproduced, s.model, s.prompt, s.sample or -1))
    span_rows = [
        [
            s.model,
            str(s.prompt),
            "" if s.sample is None else str(s.sample),
            s.entity,
            f"`{s.masked}`",
            f"`{s.digest}`",
            _yes(s.in_prompt),
            _yes(s.in_training_data),
            _yes(s.in_other_model),
            "**yes**" if s.reproduced else "",
        ]
        for s in ordered
    ]
    header = ["model", "prompt", "sample", "type", "masked", "hash", "in prompt", "in training data"]
    lines += _table([*header, "other model too", "reproduced"], span_rows)
    if pii.spans_omitted:
        lines += ["", f"{pii.spans_omitted} more spans are listed in the report files beside the model."]
    return lines


def render_markdown(report: EvaluationReport) -> str:
    """The report for people: the decision, every gate, candidate vs production overall and per group."""
    cand, prod = report.candidate.metrics, report.production.metrics
    metric = report.comparison_metric
    verdict = "PROMOTED" if report.decision is Decision.PROMOTED else "REJECTED"
    lines = [
        f"# Evaluation of run `{report.run_id}`: {verdict}",
        "",
        f"{report.summary}.",
        "",
        f"- dataset: `{report.dataset}`, eval examples: {report.eval_examples}",
        f"- candidate: {report.candidate.label} (`{report.candidate.uri}`)",
        f"- production: {report.production.label} (`{report.production.uri}`)",
        f"- compared on: {metric}" + (" (the tokenizers differ)" if cand.tokenizer != prod.tokenizer else ""),
        f"- evaluated at: {report.created_at.isoformat()}",
        "",
        "## Gates",
        "",
    ]
    gate_rows = [
        [g.name, _num(g.value), _num(g.threshold), "pass" if g.passed else "**FAIL**", g.detail]
        for g in report.gates
    ]
    lines += _table(["gate", "value", "threshold", "result", "detail"], gate_rows)

    lines += ["", "## Metrics", ""]
    overall: list[tuple[str, float | None, float | None]] = [
        ("loss (nats/token)", cand.overall.loss, prod.overall.loss),
        ("perplexity", cand.overall.perplexity, prod.overall.perplexity),
        ("bits per byte", cand.overall.bits_per_byte, prod.overall.bits_per_byte),
        ("next-token accuracy", cand.overall.accuracy, prod.overall.accuracy),
    ]
    if cand.task is not None or prod.task is not None:
        overall += [
            (
                "exact match",
                cand.task.exact_match if cand.task else None,
                prod.task.exact_match if prod.task else None,
            ),
            ("ROUGE-L", cand.task.rouge_l if cand.task else None, prod.task.rouge_l if prod.task else None),
        ]
    if cand.health is not None or prod.health is not None:
        ch, ph = cand.health, prod.health
        overall += [
            ("empty outputs", ch.empty_rate if ch else None, ph.empty_rate if ph else None),
            ("repetition rate", ch.repetition_rate if ch else None, ph.repetition_rate if ph else None),
        ]
    lines += _table(
        ["metric", "candidate", "production"], [[name, _num(c), _num(p)] for name, c, p in overall]
    )

    header = [
        "examples",
        "tokens",
        f"candidate {metric}",
        f"production {metric}",
        "change",
        "cand. acc",
        "prod. acc",
    ]
    for title, kind, cgroups, pgroups in (
        ("Per source", "source", cand.by_source, prod.by_source),
        ("Per dataset", "dataset", cand.by_dataset, prod.by_dataset),
    ):
        names = sorted(cgroups.keys() | pgroups.keys())
        lines += ["", f"### {title}", ""]
        lines += _table([kind, *header], _loss_rows(names, cgroups, pgroups, metric))

    lines += ["", "## Privacy", ""]
    privacy = report.privacy
    if privacy.canaries:
        canary_rows = [
            [
                c.canary_id,
                f"{c.exposure:.2f}",
                f"{c.extrapolated_exposure:.2f}",
                f"{c.max_exposure:.1f}",
                f"{c.at_least_as_likely}/{c.candidates}",
                "yes" if c.completed_greedy else "no",
                f"{c.completed_samples}/{c.samples}",
            ]
            for c in privacy.canaries
        ]
        lines += _table(
            ["canary", "exposure (bits)", "extrapolated", "max", "k/n", "greedy leak", "sampled leaks"],
            canary_rows,
        )
        lines += [
            "",
            "Exposure = log2(n + 1) - log2(k + 1): k of n random secrets of the same format are at least as "
            "likely as the canary under the candidate (Secret Sharer estimate; extrapolated: normal fit).",
        ]
    else:
        lines.append("No canaries were checked.")
    if privacy.pii is not None:
        lines += ["", *_pii_section(privacy.pii)]
    else:
        lines += ["", "The PII scan of generations was disabled."]

    if report.charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{chart.title}]({chart.file})" for chart in report.charts]
    if report.timings_s:
        lines += ["", "## Timings", ""]
        lines += _table(["phase", "seconds"], [[k, f"{v:.1f}"] for k, v in report.timings_s.items()])
    return "\n".join(lines) + "\n"
