from __future__ import annotations

from pathlib import Path

import pytest

from libs.schemas.events import Decision, GateResult
from services.evaluator.core.config import EvaluatorConfig, load_config
from services.evaluator.core.errors import ConfigError, EvaluatorError
from services.evaluator.core.gates import GatesConfig, PrivacyFindings, decide, evaluate_gates, explain
from services.evaluator.core.metrics import PiiStats
from services.evaluator.core.pii import PiiComparison

from .helpers import canary_result, clean_privacy, metrics

SHIPPED = Path(__file__).parents[3] / "config" / "evaluator.yaml"
GATES = GatesConfig()


def by_name(gates: list[GateResult]) -> dict[str, GateResult]:
    return {g.name: g for g in gates}


def test_a_better_candidate_passes_every_gate() -> None:
    gates = evaluate_gates(metrics(loss=1.8, exact=0.6), metrics(loss=2.0), clean_privacy(), GATES)
    assert all(g.passed for g in gates), [g for g in gates if not g.passed]
    assert decide(gates) is Decision.PROMOTED
    found = by_name(gates)
    assert found["perplexity.improvement"].value == pytest.approx(1 - 2.718281828**-0.2, rel=1e-6)
    assert found["perplexity.improvement"].threshold == 0.01
    assert {"regression.source[support]", "regression.source[wiki]"} <= found.keys()
    assert "promoted" in explain(gates)


def test_every_gate_carries_value_threshold_and_detail() -> None:
    for gate in evaluate_gates(metrics(loss=1.8), metrics(loss=2.0), clean_privacy(), GATES):
        assert gate.threshold is not None and gate.detail


def test_a_worse_or_merely_equal_candidate_is_rejected() -> None:
    worse = evaluate_gates(metrics(loss=2.2), metrics(loss=2.0), clean_privacy(), GATES)
    assert not by_name(worse)["perplexity.improvement"].passed
    assert decide(worse) is Decision.REJECTED
    equal = evaluate_gates(metrics(loss=2.0), metrics(loss=2.0), clean_privacy(), GATES)
    assert decide(equal) is Decision.REJECTED  # needs at least 1% better


def test_one_regressing_source_rejects_a_better_model() -> None:
    cand = metrics(per_source={"support": 1.0, "wiki": 2.1})  # much better overall, wiki 10% worse
    gates = by_name(evaluate_gates(cand, metrics(loss=2.0), clean_privacy(), GATES))
    assert gates["perplexity.improvement"].passed
    assert gates["regression.source[support]"].passed
    wiki = gates["regression.source[wiki]"]
    assert not wiki.passed and wiki.value == pytest.approx(2.718281828**0.1 - 1, rel=1e-6)


def test_small_groups_are_reported_but_not_gated() -> None:
    cand = metrics(per_source={"support": 1.0, "wiki": 3.0}, tokens=10)  # 100 tokens per source
    gate = by_name(evaluate_gates(cand, metrics(loss=2.0, tokens=10), clean_privacy(), GATES))[
        "regression.source[wiki]"
    ]
    assert gate.passed and "not gated" in gate.detail and gate.value is not None and gate.value > 1


def test_different_tokenizers_are_compared_per_byte() -> None:
    gates = evaluate_gates(metrics(loss=1.5, tokenizer="new"), metrics(loss=2.0), clean_privacy(), GATES)
    assert "byte_perplexity" in by_name(gates)["perplexity.improvement"].detail


def test_task_and_health_gates() -> None:
    gates = by_name(
        evaluate_gates(metrics(loss=1.8, exact=0.3), metrics(loss=2.0, exact=0.5), clean_privacy(), GATES)
    )
    assert not gates["task.exact_match_drop"].passed
    assert gates["task.exact_match_drop"].value == pytest.approx(0.2)
    loopy = metrics(loss=1.8, exact=0.6, generations=["a b c a b c a b c a b c a b c a b c"] * 50)
    health = by_name(evaluate_gates(loopy, metrics(loss=2.0), clean_privacy(), GATES))
    assert not health["health.repetition_rate"].passed


def test_a_completed_canary_rejects_whatever_else() -> None:
    privacy = PrivacyFindings(canaries=[canary_result("c1"), canary_result("c2", samples=1)])
    gates = evaluate_gates(metrics(loss=1.0, exact=1.0), metrics(loss=2.0), privacy, GATES)
    failed = [g.name for g in gates if not g.passed]
    assert failed == ["privacy.canary_completions"]
    assert decide(gates) is Decision.REJECTED
    assert "privacy" in explain(gates) and "c2" in by_name(gates)["privacy.canary_completions"].detail


def test_high_exposure_or_pii_rate_rejects() -> None:
    exposed = PrivacyFindings(canaries=[canary_result("c1", k=0)])  # log2(1001) = 9.97 > 9
    gates = by_name(evaluate_gates(metrics(loss=1.0), metrics(loss=2.0), exposed, GATES))
    assert not gates["privacy.exposure"].passed and gates["privacy.exposure"].value == pytest.approx(
        9.967, abs=1e-3
    )
    leaky = PrivacyFindings(
        pii=PiiComparison(
            candidate=PiiStats(generations=100, with_pii=30, rate=0.3, entities={"EMAIL": 30}),
            reference=PiiStats(generations=100, with_pii=2, rate=0.02, entities={"PERSON": 2}),
        )
    )
    gates = by_name(evaluate_gates(metrics(loss=1.0), metrics(loss=2.0), leaky, GATES))
    rate = gates["privacy.pii_rate_increase"]
    assert not rate.passed and rate.value == pytest.approx(0.28) and "EMAIL: 30" in rate.detail


def test_no_canaries_passes_unless_required() -> None:
    gates = by_name(evaluate_gates(metrics(loss=1.0), metrics(loss=2.0), PrivacyFindings(), GATES))
    assert gates["privacy.exposure"].passed and gates["privacy.exposure"].value is None
    strict = GatesConfig.model_validate({"privacy": {"require_canaries": True}})
    gates = by_name(evaluate_gates(metrics(loss=1.0), metrics(loss=2.0), PrivacyFindings(), strict))
    assert not gates["privacy.exposure"].passed


def test_null_thresholds_turn_quality_gates_off_but_never_privacy() -> None:
    config = GatesConfig.model_validate(
        {
            "perplexity": {"min_relative_improvement": None},
            "regression": {"max_relative_regression": None},
            "task": {"max_exact_match_drop": None, "max_rouge_l_drop": None},
            "health": {"max_empty_rate": None, "max_repetition_rate": None},
        }
    )
    gates = evaluate_gates(metrics(loss=3.0), metrics(loss=2.0), clean_privacy(), config)
    assert [g.name for g in gates] == [
        "privacy.canary_completions",
        "privacy.exposure",
        "privacy.pii_rate_increase",
        "privacy.reproduced_pii",
    ]
    assert decide(gates) is Decision.PROMOTED
    with pytest.raises(ValueError):
        GatesConfig.model_validate({"privacy": {"max_exposure": None}})


def test_no_gates_is_no_evidence() -> None:
    assert decide([]) is Decision.REJECTED


def test_the_shipped_config_parses_and_every_option_has_a_default(tmp_path: Path) -> None:
    assert load_config(SHIPPED) == EvaluatorConfig()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == EvaluatorConfig()


@pytest.mark.parametrize(
    "text",
    [
        "gates: {privacy: {max_exposure: 10.5}}",  # above log2(1001): could never fail
        "canaries: {candidates: 100}",  # log2(101) = 6.7 < the default 9.0
        "gates: {perplexity: {min_relative_improvment: 0.1}}",  # typo
        "- a list",
        "gates: [",
    ],
)
def test_bad_configs_are_refused_with_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)


def test_a_missing_config_file_is_an_evaluator_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluatorError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
