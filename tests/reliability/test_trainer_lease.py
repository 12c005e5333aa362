"""A trainer replica killed while holding a dataset lease (issue 16, item 6).

Two trainer processes share DynamoDB (runs, leases) and a broker of their own. The replica that holds
the dataset's lease is killed with SIGKILL, together with its job's process group (the machine died);
a second run waits queued behind the lease. The lease must expire (TTL 5 s), the surviving replica
must fail the orphaned run and train the queued one, and exactly one run completes, with one model.

The broker is down when that run finishes: the trainers get a broker of their own (a local Kafka
process, libs/devstack/kafka.py) because the session broker is shared by every test and must not stop.
It is stopped while the run trains, so the trainer's publish fails and the run's record stays
``announced: false``; once the broker is back, the outbox sweeper announces the run, exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.kafka import KafkaProcess
from libs.storage.tables import init_tables
from services.trainer.adapters.dynamodb import DynamoRunStore
from tests.integration.pipeline_helpers import read_json_until_idle
from tests.integration.trainer_helpers import Trainer, seed_records

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(720)]

DATASET = "support"
TRAINING = {
    "base_model": "tuneline/tiny-llama",
    "finetune": "full",
    "seq_len": 64,
    "max_steps": 6,
    "batch_size": 8,
    "learning_rate": 0.002,
    "save_steps": 6,
    "eval_fraction": 0.1,
    "tiny": {"hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1, "intermediate_size": 64,
             "vocab_size": 512},
    "deepspeed": {"zero_stage": 0},  # plain DDP: no DeepSpeed op to compile, the run takes seconds
    "scaling": {"workers": 1, "cpus_per_worker": 1, "max_failures": 0},
}  # fmt: skip
EVENTS_TOPIC = "training.events"
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def trainers() -> Iterator[list[Trainer]]:
    started: list[Trainer] = []
    yield started
    for trainer in started:
        trainer.stop()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def job_pid(trainer: Trainer, run_id: str) -> int | None:
    assert trainer.proc is not None
    for pid in children(trainer.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"services.trainer.job" in cmdline and run_id.encode() in cmdline:
            return pid
    return None


def wait(condition: Any, timeout_s: float, what: str, *alive: Trainer) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for trainer in alive:
            assert trainer.proc is not None and trainer.proc.poll() is None, (
                f"trainer exited:\n{trainer.log()}"
            )
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    logs = "\n".join(t.log() for t in alive)
    raise AssertionError(f"{what}: not within {timeout_s} s\n{logs}")


def test_a_replica_killed_holding_the_lease_leaves_one_run_announced_once(
    tmp_path: Path, own_broker: KafkaProcess, dynamodb_endpoint: str, dynamodb_client: Any,
    table_prefix: str, trainers: list[Trainer],
) -> None:  # fmt: skip
    # ``trainers`` comes last: the replicas stop before the tables and the broker go.
    started = time.monotonic()
    bootstrap = own_broker.config.bootstrap
    init_tables(dynamodb_client, table_prefix)
    seed_records(dynamodb_client, table_prefix, DATASET, 200)
    env = {
        "TUNELINE_KAFKA_BOOTSTRAP": bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_MODEL_STORE": str(tmp_path / "models"),
        "TUNELINE_TRAINER_EVENTS_TOPIC": EVENTS_TOPIC,
        "TUNELINE_TRAINER_CREATE_TABLES": "false",
        "TUNELINE_TRAINER_LEASE_TTL_S": "5",  # the least the setting allows
        "TUNELINE_TRAINER_ANNOUNCE_SWEEP_S": "1",
        "TUNELINE_TRAINER_ANNOUNCE_HOLD_S": "40",  # the least: longer than the publisher's 30 s wait
        "OMP_NUM_THREADS": "1",
    }
    config = {"defaults": TRAINING, "datasets": [{"name": DATASET, "schedule": False}]}
    replicas = {
        name: Trainer(tmp_path, name, {**env, "TUNELINE_TRAINER_WORK_DIR": str(tmp_path / name / "runs")},
                      config)
        for name in ("replica-a", "replica-b")
    }  # fmt: skip
    for replica in replicas.values():
        trainers.append(replica.start())
    runs = DynamoRunStore(dynamodb_client, table_prefix)

    # 1. A run starts on one replica (it takes the lease); a second waits queued behind the lease.
    with replicas["replica-a"].api() as api:
        first = api.post("/v1/trainings", json={"dataset": DATASET}).json()["run_id"]
        holder_run = wait(
            lambda: (r := runs.get(first)) is not None and r.state.value == "running" and r, 60,
            "the first run starts", *replicas.values(),
        )  # fmt: skip
        holder = replicas[holder_run.owner]
        survivor = next(r for name, r in replicas.items() if name != holder_run.owner)
        job = wait(lambda: job_pid(holder, first), 30, "the first run's job process", holder)
        second = api.post("/v1/trainings", json={"dataset": DATASET}).json()["run_id"]
    time.sleep(1)  # several executor passes: the second run stays queued while the lease is held
    queued = runs.get(second)
    assert queued is not None and queued.state.value == "queued"

    # 2. The machine running the lease holder dies: the replica and its job's process group, SIGKILL.
    assert holder.proc is not None
    os.killpg(job, signal.SIGKILL)  # the job runs in a session of its own (the executor's killpg target)
    holder.proc.kill()
    holder.proc.wait(30)
    killed_at = time.monotonic()

    # 3. The lease lapses; the survivor fails the orphan and starts the queued run.
    orphan = wait(
        lambda: (r := runs.get(first)) is not None and r.state.value in TERMINAL and r, 60,
        "the orphaned run is failed", survivor,
    )  # fmt: skip
    orphaned_s = time.monotonic() - killed_at
    taken = wait(
        lambda: (r := runs.get(second)) is not None and r.state.value != "queued" and r, 60,
        "the queued run starts", survivor,
    )  # fmt: skip
    took_over_s = time.monotonic() - killed_at
    assert orphan.state.value == "failed" and "lease expired" in (orphan.error or ""), orphan
    assert taken.owner == next(n for n, r in replicas.items() if r is survivor)

    # 4. The broker goes down while the run trains; the run finishes with nobody to tell.
    own_broker.daemon.stop()
    stopped_at = time.monotonic()
    finished = wait(
        lambda: (r := runs.get(second)) is not None and r.state.value in TERMINAL and r, 420,
        "the second run finishes", survivor,
    )  # fmt: skip
    assert finished.state.value == "succeeded", f"{finished}\n{survivor.job_log(second)}"
    assert finished.announced is False  # recorded, not announced: the outbox holds it
    wait(lambda: "could not publish TrainingCompleted" in survivor.log(), 60, "the publish fails", survivor)
    stored = runs.get(second)
    assert stored is not None and stored.announced is False

    # 5. The broker returns: the sweeper announces the run.
    back_at = time.monotonic()  # the restart begins (start() returns once the broker answers)
    down_s = back_at - stopped_at
    own_broker.start()
    wait(lambda: (r := runs.get(second)) is not None and r.announced, 120, "the run is announced", survivor)
    announced_s = time.monotonic() - back_at
    time.sleep(3)  # three more sweeps: nothing is announced twice
    events = [
        e for e in read_json_until_idle(bootstrap, EVENTS_TOPIC) if e.get("type") == "training.completed"
    ]
    per_run = {run_id: [e for e in events if e["run_id"] == run_id] for run_id in (first, second)}
    models = sorted(p.name for p in (tmp_path / "models").iterdir()) if (tmp_path / "models").exists() else []
    lost = sum(not v for v in per_run.values())
    twice = sum(len(v) > 1 for v in per_run.values())
    print(
        f"\ntrainer lease: runs submitted 2; succeeded {int(finished.state.value == 'succeeded')}, "
        f"failed as orphan 1; models stored {len(models)}; TrainingCompleted for the completed run "
        f"{len(per_run[second])}, for the orphan {len(per_run[first])}; lost announcements {lost}; "
        f"announced twice {twice}; kill -> orphan failed {orphaned_s:.1f} s, kill -> queued run taken "
        f"{took_over_s:.1f} s; broker down {down_s:.0f} s; broker restarted -> announced "
        f"{announced_s:.1f} s; total {time.monotonic() - started:.0f} s"
    )  # noqa: T201
    assert survivor.proc is not None and survivor.proc.poll() is None, survivor.log()
    assert len(per_run[second]) == 1, per_run
    assert (
        per_run[second][0]["status"] == "succeeded" and per_run[second][0]["model_uri"] == finished.model_uri
    )
    assert len(per_run[first]) == 1 and per_run[first][0]["status"] == "failed", per_run
    assert models == [second], models  # the killed job left no second model
    assert "published" not in holder.job_log(first)
