"""The DeepSpeed config of a run, from ``DeepSpeedConfig`` and the device it runs on."""

from __future__ import annotations

from typing import Any

from services.trainer.core.config import DeepSpeedConfig


def deepspeed_config(ds: DeepSpeedConfig, on_gpu: bool, bf16: bool) -> dict[str, Any] | None:
    """None for ``zero_stage`` 0 (plain DDP). "auto" values are filled in by the HF Trainer from its
    TrainingArguments, so batch size, learning rate and clipping have one source of truth."""
    if ds.zero_stage == 0:
        return None
    zero: dict[str, Any] = {
        "stage": ds.zero_stage,
        # On gloo (CPU) overlapping and reduce-scatter only add copies; on NCCL they are the fast path.
        "overlap_comm": on_gpu if ds.overlap_comm is None else ds.overlap_comm,
        "reduce_scatter": on_gpu if ds.reduce_scatter is None else ds.reduce_scatter,
        "contiguous_gradients": True,
        "reduce_bucket_size": 5e7,
        "allgather_bucket_size": 5e7,
    }
    if ds.zero_stage == 3:
        # save_pretrained on rank 0 needs the full weights gathered from every rank.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
        "zero_optimization": zero,
        # torch_adam: torch's AdamW, not DeepSpeed's fused C++/CUDA Adam, which would be compiled at start.
        "optimizer": {
            "type": "AdamW",
            "params": {
                "lr": "auto",
                "betas": "auto",
                "eps": "auto",
                "weight_decay": "auto",
                "torch_adam": not on_gpu,
            },
        },
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
