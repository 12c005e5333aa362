from __future__ import annotations

import math

import pytest

from services.evaluator.core.metrics import (
    ExampleLoss,
    GenerationResult,
    comparison_metric,
    health_stats,
    loss_stats,
    normalize_answer,
    pii_stats,
    relative_change,
    repeated_ngrams,
    summarize,
    task_stats,
)

from .helpers import metrics


def loss(
    rid: str, source: str, nll: float, tokens: int, correct: int, size: int, dataset: str = "d"
) -> ExampleLoss:
    return ExampleLoss(rid, source, dataset, nll, tokens, correct, size)


def test_losses_are_token_weighted_sums_not_means_of_means() -> None:
    stats = loss_stats([loss("a", "s", 10.0, 10, 5, 40), loss("b", "s", 2.0, 1, 1, 4)])
    assert stats.examples == 2 and stats.tokens == 11 and stats.bytes == 44
    assert stats.loss == pytest.approx(12.0 / 11)
    assert stats.perplexity == pytest.approx(math.exp(12.0 / 11))
    assert stats.bits_per_byte == pytest.approx(12.0 / 44 / math.log(2))
    assert stats.byte_perplexity == pytest.approx(math.exp(12.0 / 44))
    assert stats.accuracy == pytest.approx(6 / 11)


def test_groups_per_source_and_dataset_add_up_to_the_whole() -> None:
    items = [
        loss("a", "wiki", 4.0, 4, 2, 10, "docs"),
        loss("b", "crm", 1.0, 2, 1, 5, "general"),
        loss("c", "wiki", 2.0, 2, 2, 5, "general"),
    ]
    m = summarize("tok", items)
    assert list(m.by_source) == ["crm", "wiki"]
    assert list(m.by_dataset) == ["docs", "general"]
    assert m.by_source["wiki"].tokens == 6 and m.by_source["wiki"].nll == pytest.approx(6.0)
    assert sum(s.tokens for s in m.by_source.values()) == m.overall.tokens
    assert m.task is None and m.health is None


def test_no_examples_and_huge_losses_stay_finite() -> None:
    assert loss_stats([]).perplexity == 1.0
    huge = loss_stats([loss("a", "s", 5000.0, 2, 0, 8)])
    assert math.isfinite(huge.perplexity) and huge.loss == 2500.0
    tiny = loss_stats([loss("a", "s", 0.2, 2, 0, 8)])
    assert relative_change(huge, tiny, "perplexity") > 1e20  # compared in log space, not clamped
    assert relative_change(tiny, huge, "perplexity") == pytest.approx(-1.0)


def test_repeated_ngrams_counts_loops() -> None:
    assert repeated_ngrams("a b c a b c a b c", 3) == (4, 7)
    assert repeated_ngrams("the fox eats berries", 3) == (0, 2)
    assert repeated_ngrams("too short", 3) == (0, 0)


def test_health_pools_ngrams_and_counts_blank_outputs_as_empty() -> None:
    health = health_stats(["a b c a b c", "  ", "one two three four"], ngram=3)
    assert health is not None
    assert health.generations == 3
    assert health.empty_rate == pytest.approx(1 / 3)
    assert health.repetition_rate == pytest.approx(1 / 6)  # 1 repeated of 4 + 0 + 2 n-grams
    assert health_stats([]) is None


def test_exact_match_ignores_case_and_spacing_and_rouge_is_averaged() -> None:
    assert normalize_answer("  Open the  Page.\n") == "open the page."
    stats = task_stats(
        [
            GenerationResult("a", "s", "d", "open the PAGE", "Open the page", 1.0),
            GenerationResult("b", "s", "d", "close it", "Open the page", 0.0),
            GenerationResult("c", "s", "d", "free text"),  # no reference: not a task example
        ]
    )
    assert stats is not None
    assert (stats.examples, stats.exact_match, stats.rouge_l) == (2, 0.5, 0.5)
    assert task_stats([GenerationResult("c", "s", "d", "x")]) is None


def test_pii_rate_is_the_share_of_generations_with_any_entity() -> None:
    stats = pii_stats([{"EMAIL": 2}, {}, {"PHONE": 1, "EMAIL": 0}, {}])
    assert (stats.generations, stats.with_pii, stats.rate) == (4, 2, 0.5)
    assert stats.entities == {"EMAIL": 2, "PHONE": 1}
    assert pii_stats([]).rate == 0.0


def test_token_perplexity_is_only_compared_within_one_tokenizer() -> None:
    a, b = metrics(tokenizer="x"), metrics(tokenizer="y")
    assert comparison_metric(a, metrics(tokenizer="x"), "auto") == "perplexity"
    assert comparison_metric(a, b, "auto") == "byte_perplexity"
    assert comparison_metric(a, b, "perplexity") == "perplexity"
