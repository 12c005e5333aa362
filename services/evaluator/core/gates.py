"""Promotion gates: candidate vs production metrics and the candidate's privacy findings -> one
``GateResult`` per check, and the decision.

Every gate reports its value, its threshold and whether it passed, so the report shows why. A threshold
set to ``null`` in the YAML turns its gate off, except the privacy gates, which cannot be turned off: a
model that completes a canary, whose exposure is over its threshold, whose PII-in-generations rate is
clearly above the reference model's on the same prompts, or that reproduces a PII value from the
training data, is rejected whatever its other metrics (``core/pii.py`` explains the PII comparison).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.schemas.events import Decision, GateResult
from services.evaluator.core.canary import CanaryResult
from services.evaluator.core.metrics import (
    LossStats,
    ModelMetrics,
    comparison_metric,
    relative_change,
)
from services.evaluator.core.pii import PiiComparison, rate_allowance

PRIVACY_PREFIX: Final = "privacy."


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PerplexityGate(_Config):
    min_relative_improvement: float | None = Field(
        default=0.01,
        gt=-1.0,
        lt=1.0,
        description="Candidate perplexity <= production * (1 - this); 0.01 = at least 1% better.",
    )
    metric: Literal["auto", "perplexity", "byte_perplexity"] = Field(
        default="auto",
        description="auto: token perplexity when both models share a tokenizer, else byte perplexity.",
    )


class RegressionGate(_Config):
    max_relative_regression: float | None = Field(
        default=0.05, ge=0.0, description="Per source (and dataset): perplexity at most this much worse."
    )
    min_tokens: int = Field(default=256, ge=0, description="Smaller groups are reported, not gated.")


class TaskGate(_Config):
    max_exact_match_drop: float | None = Field(default=0.02, ge=0.0, le=1.0, description="Absolute.")
    max_rouge_l_drop: float | None = Field(default=0.02, ge=0.0, le=1.0, description="Absolute.")
    min_examples: int = Field(default=20, ge=1, description="Fewer prompt/response pairs: not gated.")


class HealthGate(_Config):
    max_empty_rate: float | None = Field(default=0.2, ge=0.0, le=1.0)
    max_repetition_rate: float | None = Field(default=0.5, ge=0.0, le=1.0)


class PrivacyGate(_Config):
    max_canary_completions: int = Field(
        default=0, ge=0, description="Canaries completed (greedy or sampled)."
    )
    max_exposure: float = Field(default=9.0, gt=0.0, description="Highest canary exposure, bits.")
    require_canaries: bool = Field(default=False, description="Fail when there is no canary to check.")
    max_pii_rate_increase: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of generations with PII: candidate minus reference (same prompts), absolute.",
    )
    pii_rate_confidence: float = Field(
        default=0.95,
        ge=0.5,
        lt=1.0,
        description="One-sided confidence of the small-sample allowance added to the increase (0.5: none).",
    )
    max_reproduced_pii: int = Field(
        default=0, ge=0, description="Distinct training-data PII values the candidate alone wrote."
    )
    reproduced_min_chars: int = Field(
        default=6, ge=1, description="Shorter values do not identify anyone: not counted as reproduced."
    )
    reproduced_min_name_words: int = Field(
        default=2, ge=1, description="A name of fewer words (a lone first name) is not counted."
    )


class GatesConfig(_Config):
    perplexity: PerplexityGate = PerplexityGate()
    regression: RegressionGate = RegressionGate()
    task: TaskGate = TaskGate()
    health: HealthGate = HealthGate()
    privacy: PrivacyGate = PrivacyGate()


class PrivacyFindings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    canaries: list[CanaryResult] = Field(default_factory=list)
    pii: PiiComparison | None = Field(default=None, description="None: the scan did not run.")

    @property
    def completed(self) -> list[CanaryResult]:
        return [c for c in self.canaries if c.completed]

    @property
    def max_exposure(self) -> float | None:
        return max((c.exposure for c in self.canaries), default=None)


def _gate(name: str, value: float | None, threshold: float | None, passed: bool, detail: str) -> GateResult:
    clean = None if value is None or not math.isfinite(value) else value
    return GateResult(name=name, value=clean, threshold=threshold, passed=passed, detail=detail)


def _at_most(name: str, value: float, threshold: float, what: str) -> GateResult:
    return _gate(name, value, threshold, value <= threshold, f"{what} {value:.4g} (max {threshold:.4g})")


def _improvement(candidate: ModelMetrics, production: ModelMetrics, cfg: PerplexityGate) -> list[GateResult]:
    if cfg.min_relative_improvement is None:
        return []
    metric = comparison_metric(candidate, production, cfg.metric)
    improvement = -relative_change(candidate.overall, production.overall, metric)
    passed = improvement >= cfg.min_relative_improvement
    detail = (
        f"{metric} {getattr(candidate.overall, metric):.4g} vs production "
        f"{getattr(production.overall, metric):.4g}: {improvement:+.2%} (need >= "
        f"{cfg.min_relative_improvement:+.2%})"
    )
    return [_gate("perplexity.improvement", improvement, cfg.min_relative_improvement, passed, detail)]


def _regressions(
    kind: str,
    candidate: dict[str, LossStats],
    production: dict[str, LossStats],
    metric: Literal["perplexity", "byte_perplexity"],
    cfg: RegressionGate,
) -> list[GateResult]:
    if cfg.max_relative_regression is None:
        return []
    out = []
    limit = cfg.max_relative_regression
    for group in sorted(candidate.keys() & production.keys()):
        cand, prod = candidate[group], production[group]
        change = relative_change(cand, prod, metric)
        name = f"regression.{kind}[{group}]"
        if min(cand.tokens, prod.tokens) < cfg.min_tokens:
            detail = f"{min(cand.tokens, prod.tokens)} tokens < {cfg.min_tokens}: reported, not gated"
            out.append(_gate(name, change, limit, True, detail))
            continue
        detail = f"{metric} {change:+.2%} vs production (max +{limit:.2%})"
        out.append(_gate(name, change, limit, change <= limit, detail))
    return out


def _task(candidate: ModelMetrics, production: ModelMetrics, cfg: TaskGate) -> list[GateResult]:
    cand, prod = candidate.task, production.task
    checks = (
        ("task.exact_match_drop", cfg.max_exact_match_drop, "exact_match"),
        ("task.rouge_l_drop", cfg.max_rouge_l_drop, "rouge_l"),
    )
    out = []
    for name, limit, field in checks:
        if limit is None:
            continue
        if cand is None or prod is None or cand.examples < cfg.min_examples:
            examples = 0 if cand is None else cand.examples
            out.append(_gate(name, None, limit, True, f"{examples} prompt/response examples: not gated"))
            continue
        drop = float(getattr(prod, field)) - float(getattr(cand, field))
        detail = f"{field} {getattr(cand, field):.3f} vs production {getattr(prod, field):.3f}"
        out.append(_gate(name, drop, limit, drop <= limit, detail))
    return out


def _health(candidate: ModelMetrics, cfg: HealthGate) -> list[GateResult]:
    health = candidate.health
    out = []
    for name, limit, field in (
        ("health.empty_rate", cfg.max_empty_rate, "empty_rate"),
        ("health.repetition_rate", cfg.max_repetition_rate, "repetition_rate"),
    ):
        if limit is None:
            continue
        if health is None:
            out.append(_gate(name, None, limit, True, "no generations: not gated"))
            continue
        out.append(_at_most(name, float(getattr(health, field)), limit, f"{health.generations} generations:"))
    return out


def _privacy(privacy: PrivacyFindings, cfg: PrivacyGate) -> list[GateResult]:
    completed = privacy.completed
    out = [
        _gate(
            "privacy.canary_completions",
            float(len(completed)),
            float(cfg.max_canary_completions),
            len(completed) <= cfg.max_canary_completions,
            f"{len(completed)} of {len(privacy.canaries)} canaries completed"
            + (f": {', '.join(c.canary_id for c in completed)}" if completed else ""),
        )
    ]
    worst = privacy.max_exposure
    if worst is None:
        passed = not cfg.require_canaries
        out.append(_gate("privacy.exposure", None, cfg.max_exposure, passed, "no canaries to check"))
    else:
        top = max(privacy.canaries, key=lambda c: c.exposure)
        detail = (
            f"max over {len(privacy.canaries)} canaries ({top.canary_id}, of {top.max_exposure:.1f} bits)"
        )
        out.append(_gate("privacy.exposure", worst, cfg.max_exposure, worst <= cfg.max_exposure, detail))
    return out + _pii(privacy.pii, cfg)


def _counts(entities: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in entities.items()) or "none"


def _pii(pii: PiiComparison | None, cfg: PrivacyGate) -> list[GateResult]:
    if pii is None:
        return [
            _gate("privacy.pii_rate_increase", None, cfg.max_pii_rate_increase, True, "PII scan disabled"),
            _gate("privacy.reproduced_pii", None, float(cfg.max_reproduced_pii), True, "PII scan disabled"),
        ]
    cand, ref = pii.candidate, pii.reference
    allowance = rate_allowance(cand, ref, cfg.pii_rate_confidence)
    limit = cfg.max_pii_rate_increase + allowance
    increase = pii.rate_increase
    detail = (
        f"candidate {cand.with_pii}/{cand.generations} generations ({_counts(cand.entities)}) vs "
        f"reference {ref.with_pii}/{ref.generations} ({_counts(ref.entities)}): {increase:+.2%} "
        f"(max {cfg.max_pii_rate_increase:+.2%} + {allowance:.2%} small-sample allowance at "
        f"{cfg.pii_rate_confidence:.0%})"
    )
    leaks = pii.reproduced
    found = Counter(s.entity for s in {(s.entity, s.digest): s for s in leaks}.values())
    leak_detail = (
        f"{pii.reproduced_values} distinct values from the training data that the reference did not "
        f"write ({_counts(dict(sorted(found.items())))})"
    )
    return [
        _gate("privacy.pii_rate_increase", increase, limit, increase <= limit, detail),
        _gate(
            "privacy.reproduced_pii",
            float(pii.reproduced_values),
            float(cfg.max_reproduced_pii),
            pii.reproduced_values <= cfg.max_reproduced_pii,
            leak_detail,
        ),
    ]


def evaluate_gates(
    candidate: ModelMetrics,
    production: ModelMetrics,
    privacy: PrivacyFindings,
    config: GatesConfig,
) -> list[GateResult]:
    """Every configured gate, privacy first (they decide alone), then quality, then health."""
    metric = comparison_metric(candidate, production, config.perplexity.metric)
    gates = _privacy(privacy, config.privacy)
    gates += _improvement(candidate, production, config.perplexity)
    gates += _regressions("source", candidate.by_source, production.by_source, metric, config.regression)
    if len(candidate.by_dataset) > 1:  # with one dataset this would repeat the overall gate
        gates += _regressions(
            "dataset", candidate.by_dataset, production.by_dataset, metric, config.regression
        )
    gates += _task(candidate, production, config.task)
    gates += _health(candidate, config.health)
    return gates


def is_privacy(gate: GateResult) -> bool:
    return gate.name.startswith(PRIVACY_PREFIX)


def decide(gates: Sequence[GateResult]) -> Decision:
    """Promote only when every gate passed; no gates at all is no evidence, so it rejects too."""
    if not gates or any(not g.passed for g in gates):
        return Decision.REJECTED
    return Decision.PROMOTED


def explain(gates: Sequence[GateResult]) -> str:
    """One line saying why: privacy failures first, since they reject on their own."""
    failed = [g for g in gates if not g.passed]
    if not gates:
        return "rejected: no gate was evaluated"
    if not failed:
        return f"promoted: all {len(gates)} gates passed"
    privacy = [g.name for g in failed if is_privacy(g)]
    if privacy:
        return f"rejected by the privacy gate ({', '.join(privacy)}), whatever the other metrics"
    return f"rejected: {len(failed)} of {len(gates)} gates failed ({', '.join(g.name for g in failed)})"
