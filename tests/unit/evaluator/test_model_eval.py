"""The evaluator on real (tiny) models trained here: promotion, rejection, the privacy gate, determinism."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from libs.schemas.events import Decision
from services.evaluator.core.canary import Canary, make_canaries
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.examples import EvalExample
from services.evaluator.core.report import EvaluationReport

from . import tiny_models as T

if TYPE_CHECKING:
    from services.evaluator.adapters.pii_scan import PiiScanner

# torch and transformers are imported by the tests that use them: a plain `pytest` run, which skips these
# slow tests, then does not pay for importing them.

pytestmark = pytest.mark.slow

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CONFIG = EvaluatorConfig.model_validate(
    {
        "loss": {"batch_size": 8},
        "generation": {"batch_size": 16, "max_new_tokens": 20, "max_text_prompts": 12},
        "canaries": {"candidates": 200, "samples": 2, "max_new_tokens": 16},
        "pii_scan": {"max_prompts": 8, "samples_per_prompt": 1, "max_new_tokens": 20},
        "gates": {
            "task": {"min_examples": 5},
            "privacy": {"max_exposure": 7.0},  # log2(201) = 7.65: only a canary likelier than all 200 fails
        },
    }
)


@dataclass(frozen=True)
class Models:
    base: Path
    tuned: Path
    degraded: Path
    leaky: Path
    examples: list[EvalExample]
    canaries: list[Canary]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only contend on a busy machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Models:
    import torch
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("models")
    records = T.corpus()
    train, _ = T.split(records)
    model, tokenizer = T.new_model(train)
    texts = T.rendered(train, tokenizer)
    T.train(model, tokenizer, texts, steps=10)
    base = T.save(model, tokenizer, root / "base")
    T.train(model, tokenizer, texts, steps=150, seed=1)
    tuned = T.save(model, tokenizer, root / "tuned")

    with torch.no_grad():  # the tuned model with its weights drowned in noise
        generator = torch.Generator().manual_seed(3)
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.5 * param.std())
    degraded = T.save(model, tokenizer, root / "degraded")

    # Overfit on records holding a canary's secret, as if the sanitizer had been bypassed.
    # Ids are random; fixed ones keep the candidates (drawn per canary id) and so the scores the same
    # on every run.
    canaries = [c.model_copy(update={"id": f"canary-11-{i}"}) for i, c in enumerate(make_canaries(11, 2))]
    leaked = [f"{tokenizer.bos_token}{canaries[0].text}{tokenizer.eos_token}"] * 40
    leaky_model = AutoModelForCausalLM.from_pretrained(base)
    T.train(leaky_model, tokenizer, texts + leaked, steps=200, seed=2)
    leaky = T.save(leaky_model, tokenizer, root / "leaky")
    return Models(base, tuned, degraded, leaky, T.eval_set(records), canaries)


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    from libs.pii.policy import DetectionSections
    from services.evaluator.adapters.pii_scan import PiiScanner

    return PiiScanner.from_policy(DetectionSections(), names=False)


def evaluate(
    models: Models,
    candidate: Path,
    production: Path,
    scanner: PiiScanner,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvaluationReport:
    from services.evaluator.adapters.evaluate import ModelRef, evaluate_candidate

    return evaluate_candidate(
        run_id="run-1",
        dataset="general",
        candidate=ModelRef(candidate, str(candidate), f"candidate {candidate.name}"),
        production=ModelRef(production, str(production), f"production {production.name}"),
        examples=models.examples,
        config=CONFIG,
        canaries=models.canaries,
        pii_scanner=scanner,
        progress=progress,
        now=NOW,
    )


@pytest.fixture(scope="module")
def promoted(models: Models, scanner: PiiScanner) -> EvaluationReport:
    return evaluate(models, models.tuned, models.base, scanner)


def failed(report: EvaluationReport) -> list[str]:
    return [g.name for g in report.gates if not g.passed]


def test_a_model_trained_further_beats_its_base_and_is_promoted(promoted: EvaluationReport) -> None:
    assert promoted.decision is Decision.PROMOTED, promoted.summary
    cand, prod = promoted.candidate.metrics, promoted.production.metrics
    assert cand.overall.loss < prod.overall.loss and cand.overall.accuracy > prod.overall.accuracy
    assert set(cand.by_source) == {"support", "wiki"}
    assert all(cand.by_source[s].loss < prod.by_source[s].loss for s in cand.by_source)
    assert promoted.comparison_metric == "perplexity"  # same tokenizer
    assert cand.task is not None and prod.task is not None and cand.task.rouge_l > prod.task.rouge_l
    assert cand.health is not None and cand.health.generations > 0
    assert not any(c.completed for c in promoted.privacy.canaries)
    pii = promoted.privacy.pii
    assert pii is not None and pii.candidate.generations > 0
    assert pii.reference.generations == pii.candidate.generations  # the same prompts and draws
    assert {"privacy.pii_rate_increase", "privacy.reproduced_pii"} <= {g.name for g in promoted.gates}


def test_a_degraded_model_is_rejected(models: Models, scanner: PiiScanner) -> None:
    report = evaluate(models, models.degraded, models.tuned, scanner)
    assert report.decision is Decision.REJECTED
    assert "perplexity.improvement" in failed(report)
    assert report.candidate.metrics.overall.loss > report.production.metrics.overall.loss


def test_a_model_overfit_on_a_canary_is_rejected_by_the_privacy_gate(
    models: Models, scanner: PiiScanner
) -> None:
    report = evaluate(models, models.leaky, models.base, scanner)
    assert report.decision is Decision.REJECTED
    assert "perplexity.improvement" not in failed(report)  # better on the data, yet rejected
    assert {"privacy.canary_completions", "privacy.exposure"} & set(failed(report))
    assert "privacy" in report.summary
    leaked, other = report.privacy.canaries
    assert leaked.canary_id == models.canaries[0].id
    assert leaked.at_least_as_likely == 0 and leaked.exposure == pytest.approx(7.65, abs=0.01)  # log2(201)
    assert leaked.completed and leaked.extrapolated_exposure > 10
    assert not other.completed and other.exposure < leaked.exposure


def test_evaluating_the_same_pair_twice_gives_identical_numbers(
    models: Models, scanner: PiiScanner, promoted: EvaluationReport
) -> None:
    again = evaluate(models, models.tuned, models.base, scanner)
    assert again.model_dump(exclude={"timings_s"}) == promoted.model_dump(exclude={"timings_s"})


def test_models_with_different_tokenizers_are_compared_per_byte(
    models: Models, scanner: PiiScanner, tmp_path: Path
) -> None:
    # Each run of the embedded tiny model trains its own tokenizer: token perplexities do not compare.
    other, tokenizer = T.new_model(T.split(T.corpus())[0], vocab_size=340)
    production = T.save(other, tokenizer, tmp_path / "other-tokenizer")
    phases: set[str] = set()
    report = evaluate(models, models.tuned, production, scanner, lambda phase, done, total: phases.add(phase))
    assert report.comparison_metric == "byte_perplexity"
    assert report.candidate.metrics.tokenizer != report.production.metrics.tokenizer
    assert report.decision is Decision.PROMOTED, report.summary
    assert {"candidate: loss", "candidate: canaries", "production: generate"} <= phases


def test_batched_losses_equal_one_at_a_time(models: Models) -> None:
    import torch

    from services.evaluator.adapters.model_eval import ModelRunner, load_model

    loaded = load_model(models.tuned)
    try:
        batched = ModelRunner(loaded, CONFIG).losses(models.examples)
        single_config = CONFIG.model_copy(update={"loss": CONFIG.loss.model_copy(update={"batch_size": 1})})
        single = ModelRunner(loaded, single_config).losses(models.examples)
        for b, s in zip(batched, single, strict=True):
            assert (b.record_id, b.tokens, b.bytes) == (s.record_id, s.tokens, s.bytes)
            assert b.nll == pytest.approx(s.nll, rel=1e-4, abs=1e-4)
            assert abs(b.correct - s.correct) <= 1  # an argmax tie may flip under padding
        # and the per-token mean is the model's own loss
        ids = loaded.tokenizer(
            ModelRunner(loaded, CONFIG).rendered(models.examples[:1]), add_special_tokens=False
        )
        input_ids = torch.tensor(ids["input_ids"])
        with torch.no_grad():
            reference = float(loaded.model(input_ids=input_ids, labels=input_ids).loss)
        assert single[0].nll / single[0].tokens == pytest.approx(reference, rel=1e-5)
    finally:
        loaded.close()
