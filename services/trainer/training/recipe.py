"""The per-worker training recipe, run by every Ray Train worker (or in-process by the benchmark).

Reads top to bottom: set up the worker, load the model and the packed data, build the Hugging Face
Trainer (DeepSpeed when configured), resume from the latest checkpoint if Ray restarted us, measure the
base model, train, measure again, save. Everything comes from the ``config`` argument (a ``JobSpec``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

from libs.model_folder.files import TRAINING_LOG_FILE
from libs.models import resolve_base_model
from services.trainer.core.job import JobSpec
from services.trainer.training.data import BlockDataset
from services.trainer.training.deepspeed import deepspeed_config

log = logging.getLogger(__name__)

MODEL_DIR = "model"  # inside the final checkpoint: the saved model and tokenizer


def train_loop_per_worker(config: dict[str, Any], use_ray: bool = True) -> dict[str, float]:
    spec = JobSpec.model_validate(config)
    cfg = spec.training

    # 1. The worker: rank, threads, device.
    rank, world = _rank_and_world(use_ray)
    torch.set_num_threads(cfg.scaling.cpus_per_worker)
    on_gpu = cfg.scaling.use_gpu and torch.cuda.is_available()
    bf16 = on_gpu and cfg.precision in ("auto", "bf16")

    # 2. Model and tokenizer; LoRA adapters when configured.
    base = resolve_base_model(spec.base_model_path)  # the job passes a folder; an alias works too
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        lora = cfg.lora
        model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora.target_modules,
                task_type="CAUSAL_LM",
            ),
        )

    # 3. The packed blocks the job process prepared.
    blocks = torch.load(spec.data_path)
    train_data, eval_data = BlockDataset(blocks["train"]), BlockDataset(blocks["eval"])

    # 4. The base model on the eval split, before any step. Also after a resume: the weights were just
    # loaded from the base, the checkpoint is applied inside train(). By hand, because the HF Trainer
    # cannot evaluate a ZeRO-1/2 model before training.
    if on_gpu:
        model.to(ray.train.torch.get_device() if use_ray else torch.device("cuda"))
    metrics: dict[str, float] = {"base_eval_loss": mean_loss(model, eval_data, cfg.batch_size)}

    # 5. Trainer arguments: one source of truth for batch size, lr and steps (DeepSpeed's "auto" reads them).
    out = Path(spec.output_dir) / f"rank{rank}"  # each rank reports only the checkpoint files it wrote
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        logging_steps=10,
        save_strategy="steps" if use_ray else "no",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        eval_strategy="no",
        report_to=[],
        use_cpu=not on_gpu,
        bf16=bf16,
        ddp_backend=None if world == 1 else ("nccl" if on_gpu else "gloo"),
        dataloader_num_workers=0,
        deepspeed=deepspeed_config(cfg.deepspeed, on_gpu, bf16),
        seed=cfg.seed,
        disable_tqdm=True,
    )
    throughput = Throughput(
        tokens_per_step=cfg.batch_size * cfg.gradient_accumulation_steps * cfg.seq_len,
        skip=spec.steady_after_steps,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=train_data, eval_dataset=eval_data, callbacks=[throughput]
    )
    if rank == 0 and spec.progress is not None:
        trainer.add_callback(ProgressCallback(spec))

    # 6. Ray: report checkpoints as they are saved; resume from the latest one after a worker failure.
    resume_from: str | None = None
    if use_ray:
        trainer = _attach_ray(trainer)
        resume_from = _latest_checkpoint(out)

    # 7. Train, then measure the tuned model on the same eval split.
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    metrics["train_seconds"] = time.perf_counter() - started
    metrics["train_loss"] = float(result.training_loss)
    metrics["eval_loss"] = float(trainer.evaluate()["eval_loss"])
    metrics["steps"] = float(trainer.state.global_step)
    metrics["tokens_per_s_per_worker"] = throughput.tokens_per_s()
    metrics["tokens_per_s"] = metrics["tokens_per_s_per_worker"] * world
    metrics["workers"] = float(world)

    # 8. Save: rank 0 writes the model (LoRA merged into the base weights) and reports it as the final
    # checkpoint; ZeRO-3 gathers the shards inside save_model, which every rank must call.
    with tempfile.TemporaryDirectory() as tmp:
        final = Path(tmp) / MODEL_DIR
        if cfg.deepspeed.zero_stage == 3:
            trainer.save_model(str(final))
        elif rank == 0:
            to_save = trainer.model.merge_and_unload() if cfg.finetune == "lora" else trainer.model
            to_save.save_pretrained(final, safe_serialization=True)
        if rank == 0:
            tokenizer.save_pretrained(final)
            # The loss curve, for the evaluator's report (the HF state holds every logged step).
            (final / TRAINING_LOG_FILE).write_text(json.dumps(trainer.state.log_history))
        if use_ray:
            checkpoint = ray.train.Checkpoint.from_directory(tmp) if rank == 0 else None
            ray.train.report({**metrics, "final": 1.0}, checkpoint=checkpoint)
        else:
            shutil.copytree(final, Path(spec.output_dir) / MODEL_DIR, dirs_exist_ok=True)
    return metrics


class Throughput(TrainerCallback):  # type: ignore[misc]
    """Steady-state tokens/s of this worker: wall time between the end of step ``skip`` and the last
    step, so start-up, compilation and the first allocations do not count."""

    def __init__(self, tokens_per_step: int, skip: int) -> None:
        self.tokens_per_step, self.skip = tokens_per_step, skip
        self.times: list[float] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.times.append(time.perf_counter())

    def tokens_per_s(self) -> float:
        steady = self.times[self.skip :] if len(self.times) > self.skip + 1 else self.times
        if len(steady) < 2:
            return 0.0
        return (len(steady) - 1) * self.tokens_per_step / (steady[-1] - steady[0])


def mean_loss(model: Any, data: BlockDataset, batch_size: int) -> float:
    """Mean next-token loss over ``data``: the mean of per-batch losses, as the Trainer's eval_loss is."""
    device = next(model.parameters()).device
    model.eval()
    total, batches = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            ids = data.input_ids[start : start + batch_size].to(device)
            labels = data.labels[start : start + batch_size].to(device)
            total += float(model(input_ids=ids, labels=labels, attention_mask=(labels != -100).long()).loss)
            batches += 1
    model.train()
    return total / max(batches, 1)


def _rank_and_world(use_ray: bool) -> tuple[int, int]:
    if use_ray:
        context = ray.train.get_context()
        return context.get_world_rank(), context.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _attach_ray(trainer: Any) -> Any:
    trainer.add_callback(RayTrainReportCallback())
    return prepare_trainer(trainer)


def _latest_checkpoint(out: Path) -> str | None:
    """Copy Ray's latest checkpoint where the HF Trainer can resume from it (and write next to it)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    local = out / "resume"
    shutil.rmtree(local, ignore_errors=True)
    with checkpoint.as_directory() as folder:
        shutil.copytree(Path(folder) / RayTrainReportCallback.CHECKPOINT_NAME, local)
    log.warning("resuming from checkpoint %s after a worker failure", checkpoint.path)
    return str(local)


class ProgressCallback(TrainerCallback):  # type: ignore[misc]
    """Rank 0 writes step, epoch and the latest logged losses to the run's record."""

    def __init__(self, spec: JobSpec) -> None:
        from services.trainer.adapters.progress import ProgressWriter

        self.writer = ProgressWriter(spec)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        self.writer.training(state.global_step, state.max_steps, float(state.epoch or 0.0), logs or {})

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.writer.training(state.global_step, state.max_steps, float(state.epoch or 0.0), {}, force=True)
