"""Runs one causal LM (transformers) over the eval examples: token losses, greedy and sampled
generations, canary scores. Batched, on CPU or GPU, deterministic.

Determinism: the examples come sorted by record id; each pass orders them by (token length, position) and
cuts that order into fixed-size batches, so the same examples always form the same batches (and the
length order keeps padding small). Right padding with an attention mask for losses, left padding for
generation; sampling reseeds torch before every batch (``seed + batch number``); torch runs with
deterministic algorithms. Two evaluations of the same pair on the same machine give the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from services.evaluator.core.canary import (
    Canary,
    CanaryResult,
    completes,
    exposure,
    extrapolated_exposure,
    random_candidates,
)
from services.evaluator.core.config import CanaryConfig, EvaluatorConfig, RuntimeConfig
from services.evaluator.core.errors import ModelLoadError
from services.evaluator.core.examples import EvalExample
from services.evaluator.core.metrics import ExampleLoss, GenerationResult

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (phase, done, total)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def configure_determinism(seed: int) -> None:
    """Seeds and deterministic kernels (cuBLAS needs its workspace setting before its first use)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the vocabulary, the special tokens and the chat template: equal fingerprints mean the
    same token space, so token perplexities are comparable."""
    sha = hashlib.sha256()
    for token, index in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]):
        sha.update(f"{index}\t{token}\n".encode())
    for name in ("bos_token", "eos_token", "pad_token", "unk_token", "chat_template"):
        sha.update(f"{name}={getattr(tokenizer, name, None)}\n".encode())
    return f"sha256:{sha.hexdigest()[:32]}"


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: torch.device
    fingerprint: str
    pad_id: int

    def close(self) -> None:
        """Free the weights (the evaluator holds one model at a time)."""
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def select_device(runtime: RuntimeConfig) -> torch.device:
    if runtime.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(runtime.device)


def load_model(path: str | Path, runtime: RuntimeConfig | None = None) -> LoadedModel:
    """A model folder (weights, config, tokenizer) in eval mode on the configured device."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a worker's log is no place for tqdm bars
    runtime = runtime or RuntimeConfig()
    device = select_device(runtime)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=_DTYPES[runtime.dtype])
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the model at {path}: {exc}") from exc
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ModelLoadError(f"the tokenizer at {path} has neither a pad nor an eos token")
    model.to(device)
    model.eval()
    return LoadedModel(model, tokenizer, device, tokenizer_fingerprint(tokenizer), int(pad_id))


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions ordered by (length, position), cut into batches: fixed for fixed inputs."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


class ModelRunner:
    """Losses, generations and canary scores of one loaded model."""

    def __init__(
        self, loaded: LoadedModel, config: EvaluatorConfig, progress: Progress | None = None
    ) -> None:
        self.lm = loaded
        self.tok = loaded.tokenizer
        self.config = config
        self.progress = progress or _no_progress

    # -- text -> token ids -------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(ids) for ids in self.tok(list(texts), add_special_tokens=False)["input_ids"]]

    def rendered(self, examples: Sequence[EvalExample]) -> list[str]:
        """The training text of each example, exactly as the trainer renders it."""
        from libs.training_data.render import render_all

        return render_all([e.as_example() for e in examples], self.tok)

    def prompt_text(self, example: EvalExample) -> str:
        """The text a pair's response follows, in the trainer's format (chat template or plain)."""
        from libs.training_data.render import generation_prompt

        return generation_prompt([{"role": "user", "content": example.prompt or ""}], self.tok)

    # -- scoring -----------------------------------------------------------------------------------

    def _score(
        self, sequences: Sequence[list[int]], batch_size: int, phase: str
    ) -> list[tuple[float, int, int]]:
        with torch.inference_mode():
            return self._score_batches(sequences, batch_size, phase)

    def _score_batches(
        self, sequences: Sequence[list[int]], batch_size: int, phase: str
    ) -> list[tuple[float, int, int]]:
        """(summed NLL in nats, scored tokens, correct argmax guesses) of each sequence; the first token
        of each is context only."""
        out: list[tuple[float, int, int]] = [(0.0, 0, 0)] * len(sequences)
        batches = _batches([len(s) for s in sequences], batch_size)
        for done, batch in enumerate(batches):
            width = max(len(sequences[i]) for i in batch)
            if width < 2:
                continue
            ids = torch.full((len(batch), width), self.lm.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                seq = sequences[i]
                ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, : len(seq)] = 1
            ids, mask = ids.to(self.lm.device), mask.to(self.lm.device)
            logits = self.lm.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            targets, scored = ids[:, 1:], mask[:, 1:].bool()
            nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none") * scored
            correct = (logits.argmax(dim=-1) == targets) & scored
            sums = nll.sum(dim=1).tolist()
            counts = scored.sum(dim=1).tolist()
            hits = correct.sum(dim=1).tolist()
            for row, i in enumerate(batch):
                out[i] = (float(sums[row]), int(counts[row]), int(hits[row]))
            self.progress(phase, done + 1, len(batches))
        return out

    def losses(self, examples: Sequence[EvalExample]) -> list[ExampleLoss]:
        cfg = self.config.loss
        sequences = [ids[: cfg.max_seq_len] for ids in self._encode(self.rendered(examples))]
        scores = self._score(sequences, cfg.batch_size, "loss")
        sizes = [
            len(text.encode())
            for text in self.tok.batch_decode([s[1:] for s in sequences], skip_special_tokens=True)
        ]
        return [
            ExampleLoss(e.record_id, e.source, e.dataset, nll, tokens, correct, size)
            for e, (nll, tokens, correct), size in zip(examples, scores, sizes, strict=True)
        ]

    def sequence_nll(self, texts: Sequence[str], batch_size: int, phase: str = "score") -> list[float]:
        """Summed NLL (nats) of each whole text after its first token."""
        return [nll for nll, _, _ in self._score(self._encode(texts), batch_size, phase)]

    # -- generation --------------------------------------------------------------------------------

    def _generation_config(self, max_new_tokens: int, temperature: float | None) -> Any:
        from transformers import GenerationConfig

        sample = temperature is not None
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sample,
            num_beams=1,
            temperature=temperature if sample else 1.0,
            top_k=0 if sample else None,  # pure sampling: what a leak test should draw from
            top_p=1.0,
            repetition_penalty=1.0,
            pad_token_id=self.lm.pad_id,
            eos_token_id=self.tok.eos_token_id,
            bos_token_id=self.tok.bos_token_id,
        )

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        batch_size: int,
        temperature: float | None = None,
        seed: int = 0,
        phase: str = "generate",
    ) -> list[str]:
        """Continuations of token-id prompts: greedy, or sampled at ``temperature`` (seeded per batch)."""
        with torch.inference_mode():
            return self._generate_batches(prompts, max_new_tokens, batch_size, temperature, seed, phase)

    def _generate_batches(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        batch_size: int,
        temperature: float | None,
        seed: int,
        phase: str,
    ) -> list[str]:
        out = [""] * len(prompts)
        gen_config = self._generation_config(max_new_tokens, temperature)
        batches = _batches([len(p) for p in prompts], batch_size)
        for number, batch in enumerate(batches):
            width = max(len(prompts[i]) for i in batch)
            ids = torch.full((len(batch), width), self.lm.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                prompt = prompts[i]
                ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
                mask[row, width - len(prompt) :] = 1
            torch.manual_seed(seed + number)
            generated = self.lm.model.generate(
                input_ids=ids.to(self.lm.device),
                attention_mask=mask.to(self.lm.device),
                generation_config=gen_config,
            )
            texts = self.tok.batch_decode(generated[:, width:], skip_special_tokens=True)
            for row, i in enumerate(batch):
                out[i] = texts[row].strip()
            self.progress(phase, number + 1, len(batches))
        return out

    def generation_prompts(self, examples: Sequence[EvalExample]) -> list[list[int]]:
        """A pair's prompt in the trainer's format; for a plain text, its first ``prefix_tokens`` tokens
        (at most half of it, so there is something left to write)."""
        prefix = self.config.generation.prefix_tokens
        pair_ids = iter(self._encode([self.prompt_text(e) for e in examples if e.is_pair]))
        text_ids = iter(self._encode(self.rendered([e for e in examples if not e.is_pair])))
        prompts = []
        for example in examples:
            if example.is_pair:  # the tail holds the turn markers the response follows
                prompts.append(next(pair_ids)[-self.config.loss.max_seq_len :])
            else:
                ids = next(text_ids)
                prompts.append(ids[: max(1, min(prefix, len(ids) // 2))])
        return prompts

    # -- canaries ----------------------------------------------------------------------------------

    def canaries(self, canaries: Sequence[Canary], seed: int) -> list[CanaryResult]:
        cfg: CanaryConfig = self.config.canaries
        if not canaries:
            return []
        bos = self.tok.bos_token or ""
        scored: list[tuple[float, list[float]]] = []
        for number, canary in enumerate(canaries):
            candidates = random_candidates(canary, cfg.candidates, seed)
            texts = [bos + canary.text] + [bos + canary.format.render(s) for s in candidates]
            bits = [nll / math.log(2.0) for nll in self.sequence_nll(texts, cfg.batch_size, "canary score")]
            scored.append((bits[0], bits[1:]))
            self.progress("canaries", number + 1, len(canaries))

        prompts = self._encode([bos + c.prefix for c in canaries])
        greedy = self.generate(prompts, cfg.max_new_tokens, cfg.batch_size, phase="canary greedy")
        sampled: list[str] = []
        if cfg.samples:
            repeated = [p for p in prompts for _ in range(cfg.samples)]
            sampled = self.generate(
                repeated, cfg.max_new_tokens, cfg.batch_size, cfg.temperature, seed, "canary samples"
            )
        results = []
        for number, (canary, (own, others)) in enumerate(zip(canaries, scored, strict=True)):
            value, k = exposure(own, others)
            samples = sampled[number * cfg.samples : (number + 1) * cfg.samples]
            results.append(
                CanaryResult(
                    canary_id=canary.id,
                    candidates=len(others),
                    at_least_as_likely=k,
                    log_perplexity=own,
                    exposure=value,
                    max_exposure=canary.format.log2_space,
                    extrapolated_exposure=extrapolated_exposure(own, others, canary.format.log2_space),
                    completed_greedy=completes(canary, greedy[number]),
                    completed_samples=sum(completes(canary, s) for s in samples),
                    samples=len(samples),
                )
            )
        return results


class RougeL:
    """ROUGE-L F-measure (rouge-score) on Unicode word tokens (its default tokenizer drops every
    character outside a-z0-9, which scores non-English text as empty)."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer  # type: ignore[import-untyped]

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WordTokenizer())

    def __call__(self, reference: str, generated: str) -> float:
        return float(self._scorer.score(reference, generated)["rougeL"].fmeasure)


class _WordTokenizer:
    def tokenize(self, text: str) -> list[str]:
        import re

        return re.findall(r"\w+", text.casefold())


def generation_results(
    examples: Sequence[EvalExample], texts: Sequence[str], rouge: RougeL
) -> list[GenerationResult]:
    return [
        GenerationResult(
            record_id=e.record_id,
            source=e.source,
            dataset=e.dataset,
            text=text,
            reference=e.response,
            rouge_l=rouge(e.response, text) if e.response is not None else None,
        )
        for e, text in zip(examples, texts, strict=True)
    ]
