"""Start the training workers on Ray and collect the result.

Locally Ray starts a private cluster on loopback; in Kubernetes the job joins the KubeRay cluster named
by ``ray_address`` (Ray's dashboard and job API have no authentication: keep them inside the cluster).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from services.trainer.core.job import JobSpec
from services.trainer.training.recipe import MODEL_DIR, train_loop_per_worker

log = logging.getLogger(__name__)

# Passed to every worker: loopback for gloo, CPU accelerator for DeepSpeed, no hub traffic, one print each.
WORKER_ENV = {
    "GLOO_SOCKET_IFNAME": "lo",
    "DS_ACCELERATOR": "cpu",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
PASSED_THROUGH = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "TORCH_EXTENSIONS_DIR",
    "HF_HOME",
)


@dataclass(frozen=True)
class FitResult:
    metrics: dict[str, float]
    model_dir: Path


def quiet_ray_logs() -> None:
    """Worker set-up hook. Without Ray's dashboard the state API is absent, and Train's placement-group
    cleaner logs a harmless warning every second."""
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(
        logging.ERROR
    )


def start_ray(address: str | None, spec: JobSpec) -> None:
    if ray.is_initialized():
        return
    on_gpu = spec.training.scaling.use_gpu
    env = {**({} if on_gpu else WORKER_ENV), **{k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}}
    runtime_env: dict[str, Any] = {"env_vars": env, "worker_process_setup_hook": quiet_ray_logs}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        return
    scaling = spec.training.scaling
    ray.init(
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        num_cpus=scaling.workers * scaling.cpus_per_worker,
        num_gpus=scaling.workers if on_gpu else 0,
        object_store_memory=256 * 1024**2,  # the workers read their data from disk, not the object store
        runtime_env=runtime_env,
        log_to_driver=True,
    )


def fit(spec: JobSpec, storage_path: str, ray_address: str | None, model_out: Path) -> FitResult:
    """Train on Ray; copy the final model to ``model_out``."""
    scaling = spec.training.scaling
    start_ray(ray_address, spec)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=spec.model_dump(mode="json"),
        torch_config=TorchConfig(backend="nccl" if scaling.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=scaling.workers,
            use_gpu=scaling.use_gpu,
            resources_per_worker={"CPU": scaling.cpus_per_worker, **scaling.resources_per_worker},
        ),
        run_config=RunConfig(
            name=spec.run_id,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=scaling.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError("training finished without a final checkpoint")
    with result.checkpoint.as_directory() as folder:
        shutil.copytree(Path(folder) / MODEL_DIR, model_out, dirs_exist_ok=True)
    metrics = {
        k: float(v) for k, v in (result.metrics or {}).items() if isinstance(v, int | float) and k != "final"
    }
    return FitResult(metrics, model_out)
