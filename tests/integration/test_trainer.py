"""The trainer end to end on real servers: records in DynamoDB, the admin API, a Ray Train run with two
CPU workers and DeepSpeed ZeRO-2, the model in the store, the run record and the TrainingCompleted event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from confluent_kafka import Consumer
from transformers import AutoModelForCausalLM

from libs.common.kafka import consumer_config, plaintext_settings
from libs.model_folder.manifest import ids_digest
from libs.storage.tables import DatasetCounters, init_tables
from libs.training_data.split import is_eval
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.adapters.lineage import LineageReader
from tests.integration.trainer_helpers import Trainer, seed_records, wait_for_state

# A cold run compiles DeepSpeed's CPU communication op first (about a minute) and starts Ray (another).
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

TRAINING = {
    "base_model": "tuneline/tiny-llama",  # fast; tests/integration/test_basemodel.py trains the default
    "finetune": "full",
    "seq_len": 64,
    "max_steps": 30,
    "batch_size": 8,
    "learning_rate": 0.002,
    "save_steps": 10,
    "eval_fraction": 0.1,
    "tiny": {
        "hidden_size": 64,
        "layers": 2,
        "heads": 4,
        "kv_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 512,
    },
    "deepspeed": {"zero_stage": 2},
    "scaling": {"workers": 2, "cpus_per_worker": 1, "max_failures": 1},
}


@pytest.fixture
def trainer_env(
    tmp_path: Path,
    kafka_bootstrap: str,
    dynamodb_endpoint: str,
    dynamodb_client: Any,
    table_prefix: str,
    unique_id: str,
) -> dict[str, str]:
    init_tables(dynamodb_client, table_prefix)
    return {
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_MODEL_STORE": str(tmp_path / "models"),
        "TUNELINE_TRAINER_WORK_DIR": str(tmp_path / "runs"),
        "TUNELINE_TRAINER_EVENTS_TOPIC": f"training.events.{unique_id}",
        "TUNELINE_TRAINER_CREATE_TABLES": "false",
    }


@pytest.fixture
def trainers(tmp_path: Path) -> Iterator[list[Trainer]]:
    started: list[Trainer] = []
    yield started
    for trainer in started:
        trainer.stop()


def events(bootstrap: str, topic: str, run_id: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    consumer = Consumer(
        consumer_config(
            plaintext_settings(bootstrap), f"t-{time.monotonic_ns()}", {"enable.auto.commit": False}
        )
    )
    consumer.subscribe([topic])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not found:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.key() == run_id.encode():
                found.append(json.loads(msg.value() or b"null"))
    finally:
        consumer.close()
    return found


def eval_loss(model_dir: Path | str, blocks: dict[str, torch.Tensor]) -> float:
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        losses = [
            model(input_ids=ids, labels=labels).loss
            for ids, labels in zip(blocks["input_ids"].split(8), blocks["labels"].split(8), strict=True)
        ]
    return float(sum(losses) / len(losses))


def test_post_training_runs_ray_deepspeed_and_publishes_the_model(
    tmp_path: Path, trainer_env: dict[str, str], trainers: list[Trainer], dynamodb_client: Any,
    table_prefix: str, kafka_bootstrap: str,
) -> None:  # fmt: skip
    ids = seed_records(dynamodb_client, table_prefix, "support", 1500)
    seed_records(
        dynamodb_client, table_prefix, "other", 50, seed=3, source="crm"
    )  # another dataset: not in the snapshot
    config = {"defaults": TRAINING, "datasets": [{"name": "support", "schedule": False}]}
    trainer = Trainer(tmp_path, "trainer-a", trainer_env, config).start()
    trainers.append(trainer)

    with trainer.api() as api:
        assert (
            api.post(
                "/v1/trainings", json={"dataset": "support"}, headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
        response = api.post(
            "/v1/trainings", json={"dataset": "support"}, headers={"Idempotency-Key": "first"}
        )
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
        again = api.post("/v1/trainings", json={"dataset": "support"}, headers={"Idempotency-Key": "first"})
        assert again.status_code == 200 and again.json()["run_id"] == run_id  # one key, one run
        run = wait_for_state(api, run_id, {"succeeded", "failed", "cancelled"}, 900, trainer)
        assert run["state"] == "succeeded", f"{run}\n{trainer.job_log(run_id)}"
        models = api.get("/v1/models").json()

    # The model folder loads, and it beats the base model on the same eval split.
    model_dir = Path(run["model_uri"])
    assert (model_dir / "model.safetensors").exists()
    manifest = json.loads((model_dir / "manifest.json").read_text())
    run_dir = Path(trainer_env["TUNELINE_TRAINER_WORK_DIR"]) / run_id
    blocks = torch.load(run_dir / "blocks.pt")
    base, tuned = eval_loss(run_dir / "base", blocks["eval"]), eval_loss(model_dir, blocks["eval"])
    print(f"\ntrainer run: base eval loss {base:.3f}, tuned {tuned:.3f}, metrics {run['metrics']}")  # noqa: T201
    assert tuned < base
    assert run["metrics"]["eval_loss"] == pytest.approx(tuned, rel=0.05)

    # The manifest ties the model to exactly the seeded records and to the config it trained with.
    data = manifest["data"]
    assert data["record_count"] == len(ids) == run["record_count"]
    assert data["ids_digest"] == ids_digest(ids)
    assert data["eval_records"] == sum(is_eval(i, 0.1) for i in ids)
    # The eval split and the locally built base travel with the model, for the evaluator.
    rows = [json.loads(line) for line in (model_dir / manifest["eval_file"]).read_text().splitlines()]
    assert {r["id"] for r in rows} == {i for i in ids if is_eval(i, 0.1)}
    assert {r["source"] for r in rows} == {"helpdesk"} and any("prompt" in r for r in rows)
    # Lineage: the records list names every snapshot id with its split, and a record leads back here.
    lineage = LineageReader(dynamodb_client, table_prefix)
    entries = lineage.entries(lineage.model(run_id))  # checked against ids_digest
    assert {e.id: e.split for e in entries} == {i: "eval" if is_eval(i, 0.1) else "train" for i in ids}
    uses, _ = lineage.runs_using([ids[0]])
    assert [u.run_id for u in uses[ids[0]]] == [run_id]
    assert eval_loss(model_dir / manifest["base_model_dir"], blocks["eval"]) == pytest.approx(base)
    assert manifest["base_model"] == "tuneline/tiny-llama" and manifest["base_model_kind"] == "tiny-built"
    assert (
        manifest["training"]["deepspeed"]["zero_stage"] == 2
        and manifest["training"]["scaling"]["workers"] == 2
    )
    assert (
        run_id in {m["run"]["run_id"] if "run" in m else m["run_id"] for m in models["models"]}
        if isinstance(models, dict)
        else True
    )

    # TrainingCompleted was published.
    published = events(kafka_bootstrap, trainer_env["TUNELINE_TRAINER_EVENTS_TOPIC"], run_id)
    assert published and published[0]["status"] == "succeeded"
    assert published[0]["model_uri"] == run["model_uri"] and published[0]["record_count"] == len(ids)
    # ... and the outbox knows it: the run record says announced once the broker acknowledged it.
    stored = DynamoRunStore(dynamodb_client, table_prefix).get(run_id)
    assert stored is not None and stored.announced is True


def test_threshold_starts_exactly_one_run_across_two_replicas(
    tmp_path: Path, trainer_env: dict[str, str], trainers: list[Trainer], dynamodb_client: Any,
    table_prefix: str,
) -> None:  # fmt: skip
    seed_records(dynamodb_client, table_prefix, "support", 300)
    config = {
        "defaults": TRAINING,
        "datasets": [{"name": "support", "threshold_records": 200, "cooldown_s": 0}],
    }
    replicas = [Trainer(tmp_path, name, trainer_env, config).start() for name in ("replica-a", "replica-b")]
    trainers.extend(replicas)
    counters = DatasetCounters(dynamodb_client, table_prefix)
    with replicas[0].api() as api:
        counters.add({"support": 150}, "2026-11-25T12:00:00+00:00")  # below the threshold: nothing starts
        time.sleep(4)
        assert api.get("/v1/trainings", params={"dataset": "support"}).json()["runs"] == []
        counters.add({"support": 100}, "2026-11-25T12:00:01+00:00")  # past it: one run, whatever the replicas
        deadline = time.monotonic() + 60
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not runs:
            runs = api.get("/v1/trainings", params={"dataset": "support"}).json()["runs"]
            time.sleep(0.5)
        assert runs, replicas[0].log()
        time.sleep(6)  # several more scheduler passes on both replicas
        runs = api.get("/v1/trainings", params={"dataset": "support"}).json()["runs"]
        assert len(runs) == 1, runs
        assert runs[0]["reason"] == "threshold"
        run_id = runs[0]["run_id"]
        wait_for_state(api, run_id, {"running"}, 60, replicas[0])
        # The counter was reduced by what the run consumed, not reset: records counted later still count.
        assert counters.get("support")["records_since_training"] == 0
        # Cancel stops the job cleanly.
        assert api.post(f"/v1/trainings/{run_id}/cancel").status_code == 202
        run = wait_for_state(api, run_id, {"succeeded", "failed", "cancelled"}, 120, replicas[0])
        assert run["state"] == "cancelled"


def ray_train_workers() -> list[int]:
    """PIDs of Ray Train's worker actors on this machine (Ray names their processes after the actor)."""
    out = subprocess.run(
        ["/usr/bin/pgrep", "-f", "RayTrainWorker"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in out.stdout.split()]


def test_a_killed_worker_resumes_from_the_latest_checkpoint(
    tmp_path: Path, trainer_env: dict[str, str], trainers: list[Trainer], dynamodb_client: Any,
    table_prefix: str,
) -> None:  # fmt: skip
    seed_records(dynamodb_client, table_prefix, "support", 1500)
    config = {
        "defaults": {**TRAINING, "max_steps": 60, "save_steps": 10},
        "datasets": [{"name": "support", "schedule": False}],
    }
    trainer = Trainer(tmp_path, "trainer-a", trainer_env, config).start()
    trainers.append(trainer)
    with trainer.api() as api:
        run_id = api.post("/v1/trainings", json={"dataset": "support"}).json()["run_id"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # past the first checkpoint (step 10), well before the end
            run = api.get(f"/v1/trainings/{run_id}").json()
            if run["state"] in ("succeeded", "failed", "cancelled") or run["progress"]["step"] >= 20:
                break
            time.sleep(0.5)
        assert run["state"] == "running", f"{run}\n{trainer.job_log(run_id)}"
        workers = ray_train_workers()
        assert workers, trainer.job_log(run_id)
        os.kill(workers[-1], signal.SIGKILL)
        run = wait_for_state(api, run_id, {"succeeded", "failed", "cancelled"}, 900, trainer)
    log = trainer.job_log(run_id)
    assert run["state"] == "succeeded", f"{run}\n{log}"
    assert "resuming from checkpoint" in log, log
    assert run["metrics"]["steps"] == 60
    assert run["metrics"]["eval_loss"] < run["metrics"]["base_eval_loss"]
