"""One evaluation: the candidate and the production model on the run's eval examples -> the report.

``evaluate_candidate`` is what the worker and ``tuneline evaluate RUN_ID`` call. Models are loaded one
at a time (two large models need not fit at once). The canary checks run on the candidate only (the
reference already passed them); the PII scan runs on both, on the same prompts with the same sampling
settings and seed, since what the gate judges is what fine-tuning added (``core/pii.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.evaluator.adapters.model_eval import (
    LoadedModel,
    ModelRunner,
    Progress,
    RougeL,
    configure_determinism,
    generation_results,
    load_model,
)
from services.evaluator.adapters.pii_scan import PiiScanner
from services.evaluator.core.canary import Canary, CanaryResult
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.errors import NoEvalData
from services.evaluator.core.examples import EvalExample, cap_examples, for_generation
from services.evaluator.core.gates import PrivacyFindings, decide, evaluate_gates, explain
from services.evaluator.core.metrics import ModelMetrics, comparison_metric, summarize
from services.evaluator.core.pii import PiiComparison, ScannedGeneration, TrainingText, compare
from services.evaluator.core.report import EvaluatedModel, EvaluationReport

log = logging.getLogger(__name__)

# Keys the short hashes of flagged values in reports (core.pii.digest): equal values share a hash within
# a process's reports, and nobody without the key can test guesses against one.
_SPAN_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class ModelRef:
    """A model folder on this machine, the URI it came from and what it is, for the report."""

    path: Path
    uri: str
    label: str


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 3)


def _measure(
    runner: ModelRunner, examples: Sequence[EvalExample], chosen: Sequence[EvalExample], rouge: RougeL
) -> tuple[ModelMetrics, list[list[int]], list[str]]:
    """Metrics of one model, with its generation prompts and greedy generations."""
    cfg = runner.config.generation
    losses = runner.losses(examples)
    prompts = runner.generation_prompts(chosen)
    greedy = runner.generate(prompts, cfg.max_new_tokens, cfg.batch_size, phase="generate")
    metrics = summarize(
        runner.lm.fingerprint, losses, generation_results(chosen, greedy, rouge), cfg.repetition_ngram
    )
    return metrics, prompts, greedy


def _scan(
    runner: ModelRunner,
    prompts: Sequence[list[int]],
    greedy: Sequence[str],
    scanner: PiiScanner,
) -> list[ScannedGeneration]:
    """Greedy generations (already made) and sampled ones for the first ``max_prompts`` prompts,
    scanned; the same calls on both models give the same prompts, draws and seeds."""
    config = runner.config
    cfg = config.pii_scan
    chosen = range(min(cfg.max_prompts, len(prompts)))
    repeated = [prompts[i] for i in chosen for _ in range(cfg.samples_per_prompt)]
    sampled = runner.generate(
        repeated,
        cfg.max_new_tokens,
        config.generation.batch_size,
        cfg.temperature,
        config.runtime.seed,
        "pii samples",
    )
    origins: list[tuple[int, int | None]] = (
        [(i, None) for i in range(len(greedy))] if cfg.include_greedy else []
    )
    texts = list(greedy) if cfg.include_greedy else []
    origins += [(i, k) for i in chosen for k in range(cfg.samples_per_prompt)]
    texts += sampled
    prompt_texts = runner.tok.batch_decode(prompts, skip_special_tokens=True)
    return [
        ScannedGeneration(prompt, sample, prompt_texts[prompt], found)
        for (prompt, sample), found in zip(origins, scanner.find(texts), strict=True)
    ]


def evaluate_candidate(
    *,
    run_id: str,
    dataset: str,
    candidate: ModelRef,
    production: ModelRef,
    examples: Sequence[EvalExample],
    config: EvaluatorConfig | None = None,
    canaries: Sequence[Canary] = (),
    pii_scanner: PiiScanner | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    training_texts: Iterable[str] = (),
    span_key: bytes | None = None,
) -> EvaluationReport:
    """Evaluate ``candidate`` against ``production`` and decide. ``pii_scanner`` None builds one from
    ``config.pii_scan`` (when enabled); ``progress(phase, done, total)`` drives a progress bar.

    A PII value counts as from the training data when it occurs in ``examples`` (the eval split) or in
    ``training_texts`` (the train records, when the caller has them); ``span_key`` keys the hashes of
    flagged values in the report (default: a key per process)."""
    config = config or EvaluatorConfig()
    chosen_examples = cap_examples(examples, config.loss.max_examples)
    if not chosen_examples:
        raise NoEvalData(f"run {run_id} has no eval example")
    generate_for = for_generation(
        chosen_examples, config.generation.max_pairs, config.generation.max_text_prompts
    )
    timer = _Timer()
    if pii_scanner is None and config.pii_scan.enabled:
        with timer.phase("load pii scanner"):
            pii_scanner = PiiScanner.from_config(config.pii_scan)
    rouge = RougeL()

    def tagged(role: str) -> Progress | None:
        if progress is None:
            return None
        report = progress
        return lambda phase, done, total: report(f"{role}: {phase}", done, total)

    measured: dict[str, ModelMetrics] = {}
    scanned: dict[str, list[ScannedGeneration]] = {}
    canary_results: list[CanaryResult] = []
    for role, ref in (("candidate", candidate), ("production", production)):
        configure_determinism(config.runtime.seed)  # each model starts from the same state
        with timer.phase(f"{role}: load"):
            loaded: LoadedModel = load_model(ref.path, config.runtime)
        try:
            runner = ModelRunner(loaded, config, tagged(role))
            with timer.phase(f"{role}: metrics"):
                metrics, prompts, greedy = _measure(runner, chosen_examples, generate_for, rouge)
            measured[role] = metrics
            if role == "candidate":
                with timer.phase("candidate: canaries"):
                    canary_results = runner.canaries(canaries, config.runtime.seed)
            if pii_scanner is not None:
                with timer.phase(f"{role}: pii scan"):
                    scanned[role] = _scan(runner, prompts, greedy, pii_scanner)
        finally:
            loaded.close()
        log.info("model evaluated", extra={"run_id": run_id, "role": role, "loss": metrics.overall.loss})

    pii: PiiComparison | None = None
    if pii_scanner is not None:
        privacy_cfg = config.gates.privacy
        pii = compare(
            scanned["candidate"],
            scanned["production"],
            TrainingText([*(e.content for e in examples), *training_texts]),
            span_key or _SPAN_KEY,
            privacy_cfg.reproduced_min_chars,
            privacy_cfg.reproduced_min_name_words,
        )
    privacy = PrivacyFindings(canaries=canary_results, pii=pii)
    cand, prod = measured["candidate"], measured["production"]
    gates = evaluate_gates(cand, prod, privacy, config.gates)
    return EvaluationReport(
        run_id=run_id,
        dataset=dataset,
        created_at=now or dt.datetime.now(dt.UTC),
        decision=decide(gates),
        summary=explain(gates),
        gates=gates,
        candidate=EvaluatedModel(uri=candidate.uri, label=candidate.label, metrics=cand),
        production=EvaluatedModel(uri=production.uri, label=production.label, metrics=prod),
        privacy=privacy,
        eval_examples=len(chosen_examples),
        comparison_metric=comparison_metric(cand, prod, config.gates.perplexity.metric),
        timings_s=timer.timings,
        config=config.model_dump(mode="json"),
    )
