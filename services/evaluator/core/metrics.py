"""Per-example measurements -> the metrics of one model, overall and per source and dataset.

The model adapter measures each example once (token NLL sum and count, correct next-token guesses, a
greedy generation); everything here is sums and ratios over those, so the numbers do not depend on how
the examples were batched.

- ``loss`` is the mean token NLL in nats (token-weighted over the group), ``perplexity = exp(loss)``;
- ``bits_per_byte`` divides the same NLL by the UTF-8 size of the scored text: unlike perplexity it does
  not depend on the tokenizer, so two models with different tokenizers can still be compared
  (``byte_perplexity = exp(nll / bytes)``);
- ``accuracy`` is the share of positions whose most likely next token is the actual one;
- exact match compares whitespace-collapsed, case-folded strings; ROUGE-L is the mean F-measure;
- ``empty_rate`` is the share of generations with nothing but whitespace; ``repetition_rate`` is the
  share of word n-grams, pooled over all generations, that repeat an earlier n-gram of the same
  generation (a model stuck in a loop scores close to 1, fluent text close to 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

# exp() of a larger loss overflows a float; a model this bad is rejected anyway, so perplexities are
# reported as exp(min(loss, MAX_LOG)) (comparisons use log-space differences, never the clamped values).
MAX_LOG: Final = 50.0
LN2: Final = math.log(2.0)

LossMetric = Literal["perplexity", "byte_perplexity"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class ExampleLoss:
    """One example scored by one model: sums, so groups add up exactly."""

    record_id: str
    source: str
    dataset: str
    nll: float  # summed over the scored tokens, nats
    tokens: int  # scored positions (every token after the first)
    correct: int  # positions whose argmax was the next token
    bytes: int  # UTF-8 size of the scored text, special tokens left out


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """One greedy generation; ``reference`` (and ``rouge_l``) only for prompt/response examples."""

    record_id: str
    source: str
    dataset: str
    text: str
    reference: str | None = None
    rouge_l: float | None = None


class LossStats(_Frozen):
    examples: NonNegativeInt
    tokens: NonNegativeInt
    bytes: NonNegativeInt
    nll: float = Field(ge=0, description="Summed token NLL, nats.")
    loss: float = Field(ge=0, description="Mean token NLL, nats.")
    perplexity: float
    bits_per_byte: float
    byte_perplexity: float
    accuracy: float = Field(ge=0, le=1, description="Next-token (argmax) accuracy.")

    def log_value(self, metric: LossMetric) -> float:
        """log of ``metric``, unclamped: the quantity gates compare."""
        if metric == "perplexity":
            return self.loss
        return self.nll / self.bytes if self.bytes else 0.0


class TaskStats(_Frozen):
    examples: NonNegativeInt
    exact_match: float = Field(ge=0, le=1)
    rouge_l: float = Field(ge=0, le=1)


class HealthStats(_Frozen):
    generations: NonNegativeInt
    empty_rate: float = Field(ge=0, le=1)
    repetition_rate: float = Field(ge=0, le=1)
    mean_words: float = Field(ge=0)


class PiiStats(_Frozen):
    generations: NonNegativeInt
    with_pii: NonNegativeInt
    rate: float = Field(ge=0, le=1, description="Share of scanned generations with any entity.")
    entities: dict[str, NonNegativeInt] = Field(default_factory=dict)


class ModelMetrics(_Frozen):
    tokenizer: str = Field(description="Fingerprint of the tokenizer: same value, same token space.")
    overall: LossStats
    by_source: dict[str, LossStats]
    by_dataset: dict[str, LossStats]
    task: TaskStats | None = None
    task_by_source: dict[str, TaskStats] = Field(
        default_factory=dict,
        description="Exact match and ROUGE-L of each source's pairs (sources with pairs).",
    )
    health: HealthStats | None = None


def _exp(log_value: float) -> float:
    return math.exp(min(log_value, MAX_LOG))


def loss_stats(items: Iterable[ExampleLoss]) -> LossStats:
    examples = tokens = correct = size = 0
    nll = 0.0
    for item in items:
        examples += 1
        tokens += item.tokens
        correct += item.correct
        size += item.bytes
        nll += item.nll
    loss = nll / tokens if tokens else 0.0
    per_byte = nll / size if size else 0.0
    return LossStats(
        examples=examples,
        tokens=tokens,
        bytes=size,
        nll=nll,
        loss=loss,
        perplexity=_exp(loss),
        bits_per_byte=per_byte / LN2,
        byte_perplexity=_exp(per_byte),
        accuracy=correct / tokens if tokens else 0.0,
    )


def _grouped(items: Sequence[ExampleLoss], key: Callable[[ExampleLoss], str]) -> dict[str, LossStats]:
    groups: dict[str, list[ExampleLoss]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return {name: loss_stats(groups[name]) for name in sorted(groups)}


def normalize_answer(text: str) -> str:
    """Whitespace collapsed, case folded: what exact match compares."""
    return " ".join(text.split()).casefold()


def repeated_ngrams(text: str, n: int) -> tuple[int, int]:
    """(n-grams that repeat an earlier one of ``text``, all n-grams), on whitespace-separated words."""
    words = text.split()
    total = max(len(words) - n + 1, 0)
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    for start in range(total):
        gram = tuple(words[start : start + n])
        if gram in seen:
            repeated += 1
        seen.add(gram)
    return repeated, total


def task_stats(generations: Iterable[GenerationResult]) -> TaskStats | None:
    scored = [g for g in generations if g.reference is not None]
    if not scored:
        return None
    exact = sum(normalize_answer(g.text) == normalize_answer(g.reference or "") for g in scored)
    rouge = sum(g.rouge_l or 0.0 for g in scored)
    return TaskStats(examples=len(scored), exact_match=exact / len(scored), rouge_l=rouge / len(scored))


def health_stats(texts: Sequence[str], ngram: int = 3) -> HealthStats | None:
    if not texts:
        return None
    empty = sum(not t.strip() for t in texts)
    repeated = total = 0
    for text in texts:
        r, t = repeated_ngrams(text, ngram)
        repeated += r
        total += t
    return HealthStats(
        generations=len(texts),
        empty_rate=empty / len(texts),
        repetition_rate=repeated / total if total else 0.0,
        mean_words=sum(len(t.split()) for t in texts) / len(texts),
    )


def pii_stats(findings: Sequence[Mapping[str, int]]) -> PiiStats:
    """``findings``: per scanned generation, entity type -> values found (empty: clean)."""
    entities: dict[str, int] = defaultdict(int)
    with_pii = 0
    for found in findings:
        if any(count > 0 for count in found.values()):
            with_pii += 1
        for entity, count in found.items():
            entities[entity] += count
    return PiiStats(
        generations=len(findings),
        with_pii=with_pii,
        rate=with_pii / len(findings) if findings else 0.0,
        entities={k: entities[k] for k in sorted(entities) if entities[k]},
    )


def task_by_source(generations: Sequence[GenerationResult]) -> dict[str, TaskStats]:
    """``task_stats`` of each source's generations (sources without prompt/response pairs left out)."""
    out: dict[str, TaskStats] = {}
    for name in sorted({g.source for g in generations}):
        stats = task_stats(g for g in generations if g.source == name)
        if stats is not None:
            out[name] = stats
    return out


def summarize(
    tokenizer: str,
    losses: Sequence[ExampleLoss],
    generations: Sequence[GenerationResult] = (),
    ngram: int = 3,
) -> ModelMetrics:
    """One model's metrics from its per-example measurements (groups sorted by name)."""
    return ModelMetrics(
        tokenizer=tokenizer,
        overall=loss_stats(losses),
        by_source=_grouped(losses, lambda e: e.source),
        by_dataset=_grouped(losses, lambda e: e.dataset),
        task=task_stats(generations),
        task_by_source=task_by_source(generations),
        health=health_stats([g.text for g in generations], ngram),
    )


def comparison_metric(candidate: ModelMetrics, production: ModelMetrics, choice: str) -> LossMetric:
    """The loss metric two models can be compared on: token perplexity needs the same tokenizer
    (``auto`` falls back to byte perplexity when the tokenizers differ)."""
    if choice == "auto":
        return "perplexity" if candidate.tokenizer == production.tokenizer else "byte_perplexity"
    if choice == "perplexity":
        return "perplexity"
    return "byte_perplexity"


def relative_change(candidate: LossStats, production: LossStats, metric: LossMetric) -> float:
    """candidate / production - 1 of ``metric``, from log values (no overflow): < 0 is better."""
    delta = candidate.log_value(metric) - production.log_value(metric)
    return math.expm1(min(delta, MAX_LOG))
