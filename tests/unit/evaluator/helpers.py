"""Synthetic measurements for the evaluator's pure tests (no model)."""

from __future__ import annotations

import datetime as dt
import math

from services.evaluator.core.canary import CanaryResult
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.gates import PrivacyFindings, decide, evaluate_gates, explain
from services.evaluator.core.metrics import ExampleLoss, GenerationResult, ModelMetrics, PiiStats, summarize
from services.evaluator.core.pii import PiiComparison
from services.evaluator.core.report import EvaluatedModel, EvaluationReport

SOURCES = ("support", "wiki")


def metrics(
    loss: float = 2.0,
    per_source: dict[str, float] | None = None,
    tokenizer: str = "tok-a",
    exact: float = 0.5,
    tokens: int = 1000,
    generations: list[str] | None = None,
) -> ModelMetrics:
    """Ten examples per source, each with ``tokens`` tokens and a mean loss per source."""
    losses = []
    for source in SOURCES:
        mean = (per_source or {}).get(source, loss)
        for i in range(10):
            losses.append(
                ExampleLoss(
                    f"{source}-{i}", source, "general", mean * tokens, tokens, tokens // 2, 4 * tokens
                )
            )
    n_exact = round(exact * 40)
    gens = [
        GenerationResult(
            f"q{i}", "support", "general", "yes" if i < n_exact else "no", "yes", 1.0 if i < n_exact else 0.0
        )
        for i in range(40)
    ]
    extra = [GenerationResult(f"t{i}", "wiki", "general", text) for i, text in enumerate(generations or [])]
    return summarize(tokenizer, losses, gens + extra)


def canary_result(
    canary_id: str = "c1", k: int = 500, n: int = 1000, greedy: bool = False, samples: int = 0
) -> CanaryResult:
    return CanaryResult(
        canary_id=canary_id,
        candidates=n,
        at_least_as_likely=k,
        log_perplexity=40.0,
        exposure=math.log2(n + 1) - math.log2(k + 1),
        max_exposure=19.93,
        extrapolated_exposure=1.0,
        completed_greedy=greedy,
        completed_samples=samples,
        samples=4,
    )


def clean_privacy() -> PrivacyFindings:
    return PrivacyFindings(
        canaries=[canary_result("c1"), canary_result("c2", k=300)],
        pii=PiiComparison(
            candidate=PiiStats(generations=100, with_pii=1, rate=0.01, entities={"EMAIL": 1}),
            reference=PiiStats(generations=100, with_pii=2, rate=0.02, entities={"PERSON": 2}),
        ),
    )


def report(
    candidate: ModelMetrics | None = None,
    production: ModelMetrics | None = None,
    privacy: PrivacyFindings | None = None,
) -> EvaluationReport:
    cand = candidate or metrics(loss=1.8, exact=0.6)
    prod = production or metrics(loss=2.0)
    privacy = privacy or clean_privacy()
    config = EvaluatorConfig()
    gates = evaluate_gates(cand, prod, privacy, config.gates)
    return EvaluationReport(
        run_id="run-1",
        dataset="general",
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        decision=decide(gates),
        summary=explain(gates),
        gates=gates,
        candidate=EvaluatedModel(uri="/models/run-1", label="candidate run-1", metrics=cand),
        production=EvaluatedModel(uri="/models/run-0", label="production run-0", metrics=prod),
        privacy=privacy,
        eval_examples=20,
        comparison_metric="perplexity",
        timings_s={"candidate: metrics": 1.5},
        config=config.model_dump(mode="json"),
    )
