"""Evaluation throughput, batched vs one example at a time, measured side by side in one run on the same
model and the same eval examples:

- loss: scored tokens/s of ``ModelRunner.losses`` (the per-example NLL, perplexity and accuracy pass)
  with the configured batch size vs batch size 1;
- generation: new tokens/s of greedy generation, batched (left padding) vs one prompt at a time.

The model is the trainer's embedded tiny Llama (default shape) with its tokenizer trained on synthetic
records of one to six sentences, so lengths vary and padding is part of the cost. Each mode runs once to
warm up, then ``--repeats`` times; the best time counts. The batched and single losses must agree.

    python -m benchmarks.evaluator [--examples 256] [--batch-size 32] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.report import Row, record
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.examples import EvalExample
from services.trainer.core.config import TinyModelConfig

SUBJECTS = ["The service", "The database", "Our team", "The pipeline", "The scheduler", "The gateway"]
VERBS = ["restarts", "processes", "rejects", "archives", "validates", "exports", "indexes"]
OBJECTS = ["every record", "the nightly batch", "old snapshots", "new orders", "failed jobs"]
WHEN = ["at midnight", "after each deploy", "when the disk is full", "every hour", "before the backup"]


def synthetic_examples(n: int, max_sentences: int = 6, seed: int = 7) -> list[EvalExample]:
    rng = random.Random(seed)  # noqa: S311 - synthetic text, not secrets

    def sentence() -> str:
        return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}."

    return [
        EvalExample(
            record_id=f"bench-{i:05d}",
            source=rng.choice(["support", "wiki", "logs"]),
            dataset="bench",
            text=" ".join(sentence() for _ in range(rng.randint(1, max_sentences))),
        )
        for i in range(n)
    ]


def build_model(folder: Path, examples: list[EvalExample], seed: int) -> None:
    from services.trainer.training.tiny import build_tiny_base

    texts = [e.content for e in examples]
    build_tiny_base(texts, TinyModelConfig(), seq_len=256, seed=seed, out=folder)


def best_time(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: allocations, first kernels
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--generate", type=int, default=32, help="Prompts for the generation figures.")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default).")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    args = parser.parse_args()

    import torch

    from services.evaluator.adapters.model_eval import ModelRunner, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console()
    data = {
        "loss, short records (1 sentence)": synthetic_examples(args.examples, max_sentences=1),
        "loss, mixed records (1-6 sentences)": synthetic_examples(args.examples, max_sentences=6),
    }
    rows: list[tuple[str, str, float, float, float]] = []  # pass, work, batched/s, single/s, speed-up
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        build_model(folder, [e for examples in data.values() for e in examples], seed=0)
        base = EvaluatorConfig.model_validate({"runtime": {"device": args.device}})
        loaded = load_model(folder, base.runtime)

        def runner(batch_size: int) -> ModelRunner:
            config = base.model_copy(
                update={
                    "loss": base.loss.model_copy(update={"batch_size": batch_size}),
                    "generation": base.generation.model_copy(update={"batch_size": batch_size}),
                }
            )
            return ModelRunner(loaded, config)

        batched, single = runner(args.batch_size), runner(1)
        worst = 0.0
        for name, examples in data.items():
            losses_b, losses_s = batched.losses(examples), single.losses(examples)
            tokens = sum(e.tokens for e in losses_b)
            worst = max(
                worst,
                *(abs(b.nll - s.nll) / max(s.nll, 1e-9) for b, s in zip(losses_b, losses_s, strict=True)),
            )
            t_b = best_time(partial(batched.losses, examples), args.repeats)
            t_s = best_time(partial(single.losses, examples), args.repeats)
            rows.append(
                (name, f"{len(examples)} examples, {tokens} tokens", tokens / t_b, tokens / t_s, t_s / t_b)
            )

        examples = data["loss, mixed records (1-6 sentences)"][: args.generate]
        prompts = batched.generation_prompts(examples)
        new_tokens = len(prompts) * args.new_tokens  # an upper bound: an early eos ends a row sooner
        t_b = best_time(lambda: batched.generate(prompts, args.new_tokens, args.batch_size), args.repeats)
        t_s = best_time(lambda: single.generate(prompts, args.new_tokens, 1), args.repeats)
        rows.append(
            (
                "greedy generation",
                f"{len(prompts)} prompts x {args.new_tokens} new",
                new_tokens / t_b,
                new_tokens / t_s,
                t_s / t_b,
            )
        )
        device = str(loaded.device)

    table = Table(title=f"Evaluator throughput ({device}, {torch.get_num_threads()} threads, tiny Llama)")
    for column in ("pass", "work", f"batched ({args.batch_size})", "one at a time", "speed-up"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for name, work, fast, slow, ratio in rows:
        table.add_row(name, work, f"{fast:,.0f} tok/s", f"{slow:,.0f} tok/s", f"{ratio:.1f}x")
    console.print(table)
    console.print(f"batched vs one at a time, per-example NLL: max relative difference {worst:.1e}")
    for name, _, _, _, ratio in rows[:-1]:
        verdict = "met" if ratio >= 5 else "not met"
        console.print(f"target >= 5x eval tokens/s, {name}: [bold]{verdict}[/bold] ({ratio:.1f}x)")
    record(
        *(
            Row("evaluator", name, fast, "tokens/s", slow, "one at a time",
                min_ratio=5 if name.startswith("loss") else None, note=f"batch {args.batch_size}")
            for name, _, fast, slow, _ in rows
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
