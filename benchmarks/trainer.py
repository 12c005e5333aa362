"""Training throughput on CPU, measured side by side in one run, same model and data:

- plain: one Hugging Face ``Trainer`` process, no Ray, no DeepSpeed (the baseline);
- tuneline, 1 worker: the service's path (Ray Train + DeepSpeed ZeRO-2), one worker;
- tuneline, 2 workers: the same with two workers.

Every configuration uses one thread per worker and runs in a fresh process. Throughput is steady state
(the first steps are excluded); the fixed cost is the wall time of the whole run minus the steady-state
time of its steps (Ray start, imports, DeepSpeed initialisation, the final save).

    python -m benchmarks.trainer [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.report import Row, record
from libs.training_data.formatting import to_example
from services.trainer.core.config import TINY_MODEL, TinyModelConfig, TrainingConfig
from services.trainer.core.job import JobSpec

SUBJECTS = [
    "the service",
    "the database",
    "the cluster",
    "our team",
    "the release",
    "the pipeline",
    "the report",
    "the invoice",
    "the scheduler",
    "the worker",
    "the queue",
    "the gateway",
]
VERBS = ["restarts", "processes", "rejects", "accepts", "archives", "validates", "exports", "indexes"]
OBJECTS = ["every record", "the nightly batch", "old snapshots", "new orders", "failed jobs", "the audit log"]
WHEN = ["at midnight", "after each deploy", "when the disk is full", "every hour", "before the backup"]


def synthetic_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - synthetic text, not secrets
    return [
        f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}."
        for _ in range(n)
    ]


def prepare(work: Path, cfg: TrainingConfig, records: int) -> int:
    """Build the base model and the packed data in ``work``; returns the parameter count."""
    from libs.training_data.render import render_all
    from services.trainer.training.data import pack_split, save_blocks, tokenize
    from services.trainer.training.tiny import build_tiny_base

    texts = synthetic_texts(records)
    params = build_tiny_base(texts, cfg.tiny, cfg.seq_len, cfg.seed, work / "base")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(work / "base")
    examples = [e for e in (to_example(t, {}) for t in texts) if e is not None]
    ids = tokenize(render_all(examples, tokenizer), tokenizer)
    split = len(ids) // 10
    eos = tokenizer.eos_token_id
    train = pack_split(ids[split:], cfg.seq_len, eos, tokenizer.pad_token_id)
    evaluation = pack_split(ids[:split], cfg.seq_len, eos, tokenizer.pad_token_id)
    save_blocks(work / "blocks.pt", train, evaluation)
    return params


def spec_for(work: Path, name: str, cfg: TrainingConfig) -> JobSpec:
    return JobSpec(
        run_id=f"bench-{name}",
        dataset="bench",
        base_model_path=str(work / "base"),
        data_path=str(work / "blocks.pt"),
        output_dir=str(work / name),
        training=cfg,
    )


def run_one(work: Path, name: str, cfg_json: str) -> dict[str, float]:
    """In this (fresh) process: train one configuration, return its metrics and wall time."""
    cfg = TrainingConfig.model_validate_json(cfg_json)
    spec = spec_for(work, name, cfg)
    started = time.perf_counter()
    if name == "plain":
        from services.trainer.training.recipe import train_loop_per_worker

        metrics = train_loop_per_worker(spec.model_dump(mode="json"), use_ray=False)
    else:
        from services.trainer.training.launch import fit

        metrics = fit(
            spec, storage_path=str(work / name / "ray"), ray_address=None, model_out=work / name / "model"
        ).metrics
    return {**metrics, "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--records", type=int, default=20_000)
    # Big enough that a step is compute, not per-step overhead (the service default is smaller still).
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.work), args.one, args.config)))  # noqa: T201 - read by the parent
        return

    console = Console()
    tiny = TinyModelConfig(hidden_size=args.hidden, layers=args.layers, intermediate_size=2 * args.hidden)
    base = TrainingConfig(
        base_model=TINY_MODEL,  # built in prepare(); the shipped default (a pre-trained model) trains LoRA
        finetune="full",
        max_steps=args.steps,
        save_steps=10**6,
        tiny=tiny,
        seq_len=args.seq_len,
        batch_size=args.batch,
    )
    configs = {
        "plain": base.model_copy(
            update={
                "deepspeed": base.deepspeed.model_copy(update={"zero_stage": 0}),
                "scaling": base.scaling.model_copy(update={"workers": 1}),
            }
        ),
        "tuneline-1": base.model_copy(update={"scaling": base.scaling.model_copy(update={"workers": 1})}),
        "tuneline-2": base.model_copy(update={"scaling": base.scaling.model_copy(update={"workers": 2})}),
    }
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with console.status("building the tiny base model and packing the data"):
            params = prepare(work, base, args.records)
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "GLOO_SOCKET_IFNAME": "lo",
            "DS_ACCELERATOR": "cpu",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        for name, cfg in configs.items():
            with console.status(f"training: {name} ({args.steps} steps)"):
                out = subprocess.run(  # noqa: S603 - this interpreter, this module
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.trainer",
                        "--one",
                        name,
                        "--work",
                        str(work),
                        "--config",
                        cfg.model_dump_json(),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
            if out.returncode != 0:
                console.print(out.stdout[-3000:], out.stderr[-5000:])
                raise SystemExit(f"{name} failed")
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])

    table = Table(
        title=f"Training throughput on CPU ({params / 1e6:.1f}M parameters, {args.steps} steps, "
        f"batch {base.batch_size} x "
        f"{base.seq_len} tokens, 1 thread per worker)"
    )
    for column in ("configuration", "tokens/s", "per worker", "vs plain", "fixed cost s", "eval loss"):
        table.add_column(column, justify="right")
    plain = results["plain"]["tokens_per_s"]
    for name, m in results.items():
        steady_s = m["steps"] * base.batch_size * base.seq_len * m["workers"] / max(m["tokens_per_s"], 1e-9)
        table.add_row(
            name,
            f"{m['tokens_per_s']:,.0f}",
            f"{m['tokens_per_s_per_worker']:,.0f}",
            f"{m['tokens_per_s'] / plain:.2f}x",
            f"{m['wall_s'] - steady_s:.1f}",
            f"{m['eval_loss']:.3f}",
        )
    console.print(table)
    one, two = results["tuneline-1"]["tokens_per_s"], results["tuneline-2"]["tokens_per_s"]
    console.print(
        f"tuneline 1 worker vs plain: {one / plain:.2f}x (target >= 0.90); "
        f"2 workers vs 1: {two / one:.2f}x (target >= 1.7)"
    )
    model = f"{params / 1e6:.1f}M params, {args.steps} steps"
    record(
        Row("trainer", "Ray + DeepSpeed ZeRO-2, 1 worker", one, "tokens/s", plain, "plain HF Trainer",
            min_ratio=0.9, note=model),
        Row("trainer", "2 workers, 1 thread each", two, "tokens/s", one, "1 worker", min_ratio=1.7,
            note=model),
    )  # fmt: skip


if __name__ == "__main__":
    main()
