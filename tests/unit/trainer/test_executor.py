"""RunExecutor driven one ``poll_once`` at a time, with in-memory stores and a tiny fake job process."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import REGISTRY

from libs.schemas.events import RunStatus, TrainingCompleted, TrainingRequested, TriggerReason
from services.trainer.adapters.dynamodb import DatasetState, DynamoRunStore, LeaseHolder, LeaseStore
from services.trainer.adapters.events import EventNotDelivered, EventPublisher
from services.trainer.core.runs import RunRecord, RunState
from services.trainer.executor import RunExecutor
from services.trainer.job import RESULT_FILE
from tests.unit.trainer.fakes import InMemoryRunStore

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TTL_S = 60.0

# argv: work_dir, mode, run_id (the executor appends the run id).
JOB = r"""
import json, os, subprocess, sys, time
work_dir, mode, run_id = sys.argv[1:4]
run_dir = os.path.join(work_dir, run_id)
result = os.path.join(run_dir, "result.json")
print("job starting", run_id, flush=True)
if mode == "succeed":
    with open(result, "w") as f:
        json.dump({"model_uri": "file:///models/" + run_id, "base_model": "tuneline/tiny-llama",
                   "data_watermark": "2026-03-01T11:59:00+00:00", "record_count": 321,
                   "metrics": {"eval_loss": 1.25, "train_loss": 1.5}}, f)
elif mode == "fail":
    with open(result, "w") as f:
        json.dump({"error": "EmptySnapshot: nothing to train on"}, f)
    sys.exit(1)
elif mode == "crash":
    print("Traceback: something broke badly", flush=True)
    sys.exit(3)
elif mode == "env":
    with open(os.path.join(run_dir, "env.json"), "w") as f:
        json.dump(dict(os.environ), f)
elif mode == "sleep":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(os.path.join(run_dir, "child.pid"), "w") as f:
        f.write(str(child.pid))
    time.sleep(60)
"""


# ---- fakes --------------------------------------------------------------------------------------


class LeaseTable:
    """The state table's lease items, shared by every replica's ``FakeLeaseStore``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, LeaseHolder] = {}


class FakeLeaseStore:
    """``LeaseStore``'s conditions on a shared dict: acquire if free, expired or ours; renew and release
    only our own; ``holder`` hides an expired lease unless asked. ``clock`` gives epoch seconds."""

    def __init__(self, table: LeaseTable, owner: str, clock: Callable[[], float] = time.time) -> None:
        self.table, self._owner, self.clock = table, owner, clock

    @property
    def owner(self) -> str:
        return self._owner

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def acquire(self, dataset: str, ttl_s: float, run_id: str | None = None) -> bool:
        now = self._now_ms()
        with self.table.lock:
            current = self.table.items.get(dataset)
            if current is not None and current.expires_at_ms >= now and current.owner != self._owner:
                return False
            self.table.items[dataset] = LeaseHolder(dataset, self._owner, now + int(ttl_s * 1000), run_id)
            return True

    def renew(self, dataset: str, ttl_s: float) -> bool:
        with self.table.lock:
            current = self.table.items.get(dataset)
            if current is None or current.owner != self._owner:
                return False
            self.table.items[dataset] = LeaseHolder(
                dataset, self._owner, self._now_ms() + int(ttl_s * 1000), current.run_id
            )
            return True

    def release(self, dataset: str) -> None:
        with self.table.lock:
            current = self.table.items.get(dataset)
            if current is not None and current.owner == self._owner:
                del self.table.items[dataset]

    def holder(self, dataset: str, include_expired: bool = False) -> LeaseHolder | None:
        with self.table.lock:
            lease = self.table.items.get(dataset)
        if lease is None or (lease.expired(self._now_ms()) and not include_expired):
            return None
        return lease


class FakeDatasetState:
    """The writer's counters: ``read`` and ``mark_training_started`` (ADD -consumed, SET last)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.last: dict[str, dt.datetime] = {}
        self.marked: list[tuple[str, int, dt.datetime]] = []

    def read(self, dataset: str) -> tuple[int, dt.datetime | None]:
        with self.lock:
            return self.counts.get(dataset, 0), self.last.get(dataset)

    def mark_training_started(self, dataset: str, consumed: int, now: dt.datetime) -> None:
        with self.lock:
            self.counts[dataset] = self.counts.get(dataset, 0) - consumed
            self.last[dataset] = now
            self.marked.append((dataset, consumed, now))


class FakeEvents:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[TrainingRequested | TrainingCompleted] = []

    def publish(self, event: TrainingRequested | TrainingCompleted) -> None:
        if self.fail:
            raise EventNotDelivered(f"{event.type} for run {event.run_id}: broker down")
        self.published.append(event)


# ---- helpers ------------------------------------------------------------------------------------


class Replicas:
    """The stores every replica shares, and a way to build one replica's executor."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.runs = InMemoryRunStore(clock=lambda: NOW)
        self.leases = LeaseTable()
        self.datasets = FakeDatasetState()
        self.events = FakeEvents()
        self.executors: list[RunExecutor] = []

    def executor(self, owner: str, mode: str = "succeed", events: FakeEvents | None = None) -> RunExecutor:
        executor = RunExecutor(
            cast(DynamoRunStore, self.runs),
            cast(LeaseStore, FakeLeaseStore(self.leases, owner)),
            cast(DatasetState, self.datasets),
            cast(EventPublisher, events or self.events),
            self.work_dir,
            lease_ttl_s=TTL_S,
            poll_interval_s=0.1,
            cancel_grace_s=5.0,
            job_command=[sys.executable, "-c", JOB, str(self.work_dir), mode],
            clock=lambda: NOW,
        )
        self.executors.append(executor)
        return executor

    def queue(self, dataset: str = "support", n: int = 1) -> RunRecord:
        run = RunRecord(
            run_id=f"{dataset}-20260301T1200{n:02d}-abcd{n:04x}",
            dataset=dataset,
            reason=TriggerReason.THRESHOLD,
            requested_by="scheduler",
            config={"base_model": "tuneline/tiny-llama"},
            created_at=NOW + dt.timedelta(seconds=n),
        )
        stored, created = self.runs.create(run)
        assert created
        return stored

    def state(self, run_id: str) -> RunRecord:
        run = self.runs.get(run_id)
        assert run is not None
        return run


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    shared = Replicas(tmp_path)
    yield shared
    for executor in shared.executors:  # never leave a fake job sleeping
        if executor.active is not None and executor.active.process.poll() is None:
            os.killpg(executor.active.process.pid, 9)
            executor.active.process.wait()


def run_to_end(executor: RunExecutor) -> None:
    """Wait for the job process to exit, then let the executor record it."""
    assert executor.active is not None
    executor.active.process.wait(timeout=10)
    executor.poll_once()
    assert executor.active is None


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def finished_count(dataset: str, state: str) -> float:
    return sample("tuneline_trainer_runs_finished_total", dataset=dataset, state=state)


def completed(events: FakeEvents) -> list[TrainingCompleted]:
    return [e for e in events.published if isinstance(e, TrainingCompleted)]


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (init may be slow to reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ---- start and finish ---------------------------------------------------------------------------


def test_a_queued_run_is_started_under_the_lease_and_consumes_the_counter(replicas: Replicas) -> None:
    run = replicas.queue()
    replicas.datasets.counts["support"] = 1234
    started_before = sample("tuneline_trainer_runs_started_total", dataset="support", reason="threshold")
    executor = replicas.executor("replica-a")

    executor.poll_once()

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.RUNNING
    assert stored.owner == "replica-a"
    assert stored.started_at == NOW
    assert stored.progress.phase == "starting"
    lease = FakeLeaseStore(replicas.leases, "observer").holder("support")
    assert lease is not None
    assert (lease.owner, lease.run_id) == ("replica-a", run.run_id)
    assert replicas.datasets.marked == [("support", 1234, NOW)]  # the value read, not a reset to 0
    assert replicas.datasets.read("support") == (0, NOW)
    assert executor.active is not None
    assert executor.active.run.run_id == run.run_id
    assert sample("tuneline_trainer_run_active") == 1
    assert (
        sample("tuneline_trainer_runs_started_total", dataset="support", reason="threshold")
        == started_before + 1
    )
    run_to_end(executor)


def test_a_successful_job_records_the_model_publishes_once_and_frees_the_lease(
    replicas: Replicas,
) -> None:
    run = replicas.queue()
    before = finished_count("support", "succeeded")
    executor = replicas.executor("replica-a", "succeed")
    executor.poll_once()

    run_to_end(executor)

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.SUCCEEDED
    assert stored.model_uri == f"file:///models/{run.run_id}"
    assert stored.base_model == "tuneline/tiny-llama"
    assert stored.record_count == 321
    assert stored.metrics == {"eval_loss": 1.25, "train_loss": 1.5}
    assert stored.data_watermark == dt.datetime(2026, 3, 1, 11, 59, tzinfo=dt.UTC)
    assert stored.finished_at == NOW
    assert stored.error is None
    assert stored.progress.phase == "done"
    [event] = completed(replicas.events)
    assert event.status is RunStatus.SUCCEEDED
    assert (event.run_id, event.dataset, event.model_uri) == (run.run_id, "support", stored.model_uri)
    assert event.record_count == 321
    assert event.metrics == stored.metrics
    assert FakeLeaseStore(replicas.leases, "observer").holder("support", include_expired=True) is None
    assert finished_count("support", "succeeded") == before + 1
    assert sample("tuneline_trainer_run_active") == 0
    assert (replicas.work_dir / run.run_id / "job.log").read_text().startswith("job starting")


def test_a_failing_job_fails_the_run_with_the_error_from_its_result(replicas: Replicas) -> None:
    run = replicas.queue()
    executor = replicas.executor("replica-a", "fail")
    executor.poll_once()

    run_to_end(executor)

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.FAILED
    assert stored.error == "EmptySnapshot: nothing to train on"
    assert stored.model_uri is None
    [event] = completed(replicas.events)
    assert event.status is RunStatus.FAILED
    assert event.error == "EmptySnapshot: nothing to train on"
    assert event.model_uri is None
    assert FakeLeaseStore(replicas.leases, "observer").holder("support") is None


def test_a_crash_without_a_result_fails_the_run_with_the_exit_code_and_log_tail(
    replicas: Replicas,
) -> None:
    run = replicas.queue()
    executor = replicas.executor("replica-a", "crash")
    executor.poll_once()

    run_to_end(executor)

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.FAILED
    assert stored.error is not None
    assert stored.error.startswith("job exited with 3:")
    assert "Traceback: something broke badly" in stored.error
    [event] = completed(replicas.events)
    assert event.status is RunStatus.FAILED


def test_a_stale_result_from_an_earlier_attempt_is_not_taken_for_this_one(replicas: Replicas) -> None:
    run = replicas.queue()
    run_dir = replicas.work_dir / run.run_id
    run_dir.mkdir()
    (run_dir / RESULT_FILE).write_text(json.dumps({"error": "from a previous life"}))
    executor = replicas.executor("replica-a", "crash")
    executor.poll_once()

    run_to_end(executor)

    error = replicas.state(run.run_id).error
    assert error is not None
    assert error.startswith("job exited with 3:")


# ---- cancel -------------------------------------------------------------------------------------


def test_cancelling_a_running_job_kills_its_process_group(replicas: Replicas) -> None:
    run = replicas.queue()
    before = finished_count("support", "cancelled")
    executor = replicas.executor("replica-a", "sleep")
    executor.poll_once()
    assert executor.active is not None
    job = executor.active.process
    child_pid_file = replicas.work_dir / run.run_id / "child.pid"
    deadline = time.monotonic() + 10
    while not child_pid_file.exists() or not child_pid_file.read_text():
        assert time.monotonic() < deadline, "the fake job never started its child"
        time.sleep(0.02)
    child = int(child_pid_file.read_text())
    assert alive(child)

    assert replicas.runs.request_cancel(run.run_id) is not None
    executor.poll_once()  # sees the request: SIGTERM to the group
    assert job.poll() is not None
    executor.poll_once()  # records the outcome

    deadline = time.monotonic() + 5
    while alive(child):  # a grandchild in the same group dies too
        assert time.monotonic() < deadline, "the job's child survived the cancel"
        time.sleep(0.02)
    stored = replicas.state(run.run_id)
    assert stored.state is RunState.CANCELLED
    assert stored.error == "cancelled on request"
    [event] = completed(replicas.events)
    assert event.status is RunStatus.CANCELLED
    assert executor.active is None
    assert FakeLeaseStore(replicas.leases, "observer").holder("support") is None
    assert finished_count("support", "cancelled") == before + 1


def test_a_run_cancelled_while_queued_is_never_started(replicas: Replicas) -> None:
    run = replicas.queue()
    replicas.runs.request_cancel(run.run_id)
    executor = replicas.executor("replica-a")

    executor.poll_once()

    assert executor.active is None
    assert replicas.state(run.run_id).state is RunState.CANCELLED
    assert replicas.datasets.marked == []
    assert FakeLeaseStore(replicas.leases, "observer").holder("support") is None


# ---- several replicas ---------------------------------------------------------------------------


def test_another_replica_cannot_start_the_dataset_while_the_lease_is_held(replicas: Replicas) -> None:
    first = replicas.queue(n=1)
    second = replicas.queue(n=2)
    a = replicas.executor("replica-a", "sleep")
    b = replicas.executor("replica-b", "sleep")

    a.poll_once()
    b.poll_once()

    assert a.active is not None
    assert a.active.run.run_id == first.run_id
    assert b.active is None
    assert replicas.state(first.run_id).state is RunState.RUNNING
    assert replicas.state(first.run_id).owner == "replica-a"  # not failed as an orphan by b
    assert replicas.state(second.run_id).state is RunState.QUEUED
    assert len(replicas.datasets.marked) == 1


def test_two_replicas_polling_at_once_start_the_run_exactly_once(replicas: Replicas) -> None:
    run = replicas.queue()
    a = replicas.executor("replica-a", "sleep")
    b = replicas.executor("replica-b", "sleep")
    barrier = threading.Barrier(2)

    def poll(executor: RunExecutor) -> None:
        barrier.wait(5)
        executor.poll_once()

    threads = [threading.Thread(target=poll, args=(e,)) for e in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    runners = [e for e in (a, b) if e.active is not None]
    assert len(runners) == 1
    assert replicas.state(run.run_id).owner == runners[0].leases.owner
    assert len(replicas.datasets.marked) == 1


def test_a_run_left_running_by_a_dead_replica_is_failed_as_an_orphan(replicas: Replicas) -> None:
    run = replicas.queue()
    dead = FakeLeaseStore(replicas.leases, "replica-dead", clock=lambda: time.time() - 3600)
    assert dead.acquire("support", TTL_S, run.run_id)  # expired an hour ago
    assert replicas.runs.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, owner="replica-dead")
    before = finished_count("support", "failed")
    b = replicas.executor("replica-b")

    b.poll_once()

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.FAILED
    assert stored.error is not None
    assert "lease expired" in stored.error
    [event] = completed(replicas.events)
    assert (event.run_id, event.status) == (run.run_id, RunStatus.FAILED)
    assert finished_count("support", "failed") == before + 1
    assert b.active is None


def test_a_run_running_without_any_lease_is_failed_and_the_next_one_starts(replicas: Replicas) -> None:
    orphan = replicas.queue(n=1)
    waiting = replicas.queue(n=2)
    assert replicas.runs.move(orphan.run_id, {RunState.QUEUED}, RunState.RUNNING, owner="replica-dead")
    b = replicas.executor("replica-b")

    b.poll_once()

    assert replicas.state(orphan.run_id).state is RunState.FAILED
    assert b.active is not None
    assert b.active.run.run_id == waiting.run_id
    assert [e.run_id for e in completed(replicas.events)] == [orphan.run_id]
    run_to_end(b)


def test_a_run_whose_owner_holds_a_live_lease_is_left_alone(replicas: Replicas) -> None:
    run = replicas.queue()
    assert FakeLeaseStore(replicas.leases, "replica-a").acquire("support", TTL_S, run.run_id)
    assert replicas.runs.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, owner="replica-a")
    b = replicas.executor("replica-b")

    b.poll_once()

    assert replicas.state(run.run_id).state is RunState.RUNNING
    assert completed(replicas.events) == []


def test_a_replica_that_finds_its_run_failed_as_orphan_publishes_no_second_event(
    replicas: Replicas,
) -> None:
    run = replicas.queue()
    a = replicas.executor("replica-a", "succeed")
    a.poll_once()
    assert a.active is not None
    a.active.process.wait(timeout=10)
    with replicas.leases.lock:  # replica a paused past its lease's expiry
        lease = replicas.leases.items["support"]
        replicas.leases.items["support"] = LeaseHolder(lease.dataset, lease.owner, 0, lease.run_id)
    replicas.executor("replica-b").poll_once()
    assert replicas.state(run.run_id).state is RunState.FAILED

    a.poll_once()  # a wakes up and records what its job did

    stored = replicas.state(run.run_id)
    assert stored.state is RunState.FAILED  # the first outcome recorded stays
    assert stored.model_uri is None
    assert [e.run_id for e in completed(replicas.events)] == [run.run_id]
    assert a.active is None


# ---- events -------------------------------------------------------------------------------------


def test_an_undeliverable_event_does_not_stop_the_outcome_being_recorded(replicas: Replicas) -> None:
    run = replicas.queue()
    events = FakeEvents(fail=True)
    failed_before = sample("tuneline_trainer_events_failed_total")
    executor = replicas.executor("replica-a", "succeed", events=events)
    executor.poll_once()

    run_to_end(executor)

    assert replicas.state(run.run_id).state is RunState.SUCCEEDED
    assert replicas.state(run.run_id).announced is False  # the outbox keeps it for the sweeper
    assert events.published == []
    assert sample("tuneline_trainer_events_failed_total") == failed_before + 1
    assert FakeLeaseStore(replicas.leases, "observer").holder("support") is None


def test_a_run_announced_at_once_is_marked_and_never_swept_again(replicas: Replicas) -> None:
    run = replicas.queue()
    executor = replicas.executor("replica-a", "succeed")
    executor.poll_once()
    run_to_end(executor)

    assert replicas.state(run.run_id).announced is True
    assert executor.announcer.sweep() == 0
    assert [e.run_id for e in completed(replicas.events)] == [run.run_id]


def test_an_announcement_lost_while_the_broker_was_down_is_sent_by_the_sweeper_once(
    replicas: Replicas,
) -> None:
    run = replicas.queue()
    down = FakeEvents(fail=True)
    executor = replicas.executor("replica-a", "succeed", events=down)
    executor.poll_once()
    run_to_end(executor)
    assert replicas.state(run.run_id).announced is False
    assert executor.announcer.sweep() == 0  # still down: the claim is taken and lapses, nothing marked
    reannounced_before = sample("tuneline_trainer_events_reannounced_total")

    # Another replica's sweeper, the broker back, once the failed attempt's claim has lapsed.
    later = replicas.executor("replica-b")
    later.announcer.clock = lambda: time.time() + later.announcer.hold_s + 1
    assert later.announcer.sweep() == 1
    assert later.announcer.sweep() == 0

    [event] = completed(replicas.events)
    stored = replicas.state(run.run_id)
    assert (event.run_id, event.status) == (run.run_id, RunStatus.SUCCEEDED)
    assert event.model_uri == stored.model_uri
    assert event.occurred_at == stored.finished_at
    assert stored.announced is True
    assert sample("tuneline_trainer_events_reannounced_total") == reannounced_before + 1
    assert sample("tuneline_trainer_unannounced_runs") == 0


def test_an_announcement_in_flight_on_one_replica_is_not_sent_again_by_another(replicas: Replicas) -> None:
    run = replicas.queue()
    a = replicas.executor("replica-a", "succeed", events=FakeEvents(fail=True))
    a.poll_once()
    run_to_end(a)  # a claimed the announcement; say it is still waiting for the broker

    b = replicas.executor("replica-b")
    assert b.announcer.sweep() == 0  # a's claim holds
    assert completed(replicas.events) == []
    assert replicas.state(run.run_id).announced is False


def test_an_undeliverable_event_does_not_stop_an_orphan_being_failed(replicas: Replicas) -> None:
    run = replicas.queue()
    assert replicas.runs.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, owner="replica-dead")
    failed_before = sample("tuneline_trainer_events_failed_total")

    replicas.executor("replica-b", events=FakeEvents(fail=True)).poll_once()

    assert replicas.state(run.run_id).state is RunState.FAILED
    assert sample("tuneline_trainer_events_failed_total") == failed_before + 1


def test_the_job_process_does_not_inherit_the_admin_token_or_other_secrets(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "TUNELINE_ADMIN_TOKEN": "k3y-Zq8vN2mWx4Lr7Tb1",
        "TUNELINE_ADMIN_TOKEN_FILE": "/run/secrets/admin-token",
        "TUNELINE_TRAINER_ADMIN_TOKEN": "k3y-Zq8vN2mWx4Lr7Tb1",
        "TUNELINE_SANITIZER_PSEUDONYM_KEY": "p" * 32,
        "TUNELINE_SANITIZER_ENCRYPTION_KEY_FILE": "/run/secrets/aes",
        "TUNELINE_KAFKA_SASL_PASSWORD": "kafka-pw",
        "TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE": "/run/secrets/oauth",
    }
    needed = {"TUNELINE_TABLE_PREFIX": "t-", "TUNELINE_MODEL_STORE": "s3://m/p", "AWS_SECRET_ACCESS_KEY": "a"}
    for name, value in {**secrets, **needed}.items():
        monkeypatch.setenv(name, value)
    run = replicas.queue()
    executor = replicas.executor("replica-a", "env")
    executor.poll_once()
    run_to_end(executor)
    env = json.loads((replicas.work_dir / run.run_id / "env.json").read_text())
    assert not set(secrets) & set(env)
    assert {k: env[k] for k in needed} == needed  # what the job itself needs (DynamoDB, S3) stays
    assert env["PYTHONUNBUFFERED"] == "1"
