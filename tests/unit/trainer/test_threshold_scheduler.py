"""ThresholdScheduler.check / check_all against in-memory runs and counters, one or two replicas."""

from __future__ import annotations

import datetime as dt
import threading
from typing import cast

import pytest
from prometheus_client import REGISTRY

from libs.schemas.events import TriggerReason
from services.trainer.adapters.dynamodb import DatasetState
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import RunRecord, RunState
from services.trainer.scheduler import ThresholdScheduler
from services.trainer.service import TrainerService
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
CONFIG = TrainerConfig.model_validate(
    {
        "datasets": [
            {"name": "support", "threshold_records": 500, "cooldown_s": 3600},
            {"name": "docs", "threshold_records": 100, "cooldown_s": 0},
            {"name": "crm", "threshold_records": 1, "schedule": False},
        ]
    }
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class FakeDatasetState:
    """The writer's counters; ``broken`` datasets raise on read (DynamoDB trouble)."""

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.last: dict[str, dt.datetime] = {}
        self.broken = broken

    def read(self, dataset: str) -> tuple[int, dt.datetime | None]:
        if dataset in self.broken:
            raise RuntimeError(f"cannot read the counter of {dataset}")
        with self.lock:
            return self.counts.get(dataset, 0), self.last.get(dataset)

    def mark_training_started(self, dataset: str, consumed: int, now: dt.datetime) -> None:
        with self.lock:
            self.counts[dataset] = self.counts.get(dataset, 0) - consumed
            self.last[dataset] = now

    def add(self, dataset: str, records: int) -> None:
        with self.lock:
            self.counts[dataset] = self.counts.get(dataset, 0) + records


class Replica:
    """One trainer replica's scheduler over the shared stores."""

    def __init__(self, runs: InMemoryRunStore, datasets: FakeDatasetState, clock: Clock) -> None:
        self.service = TrainerService(CONFIG, runs, FakeRegistry(), clock=clock)
        self.scheduler = ThresholdScheduler(
            CONFIG, self.service, cast(DatasetState, datasets), interval_s=1.0, clock=clock
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runs(clock: Clock) -> InMemoryRunStore:
    return InMemoryRunStore(clock=clock)


@pytest.fixture
def datasets() -> FakeDatasetState:
    return FakeDatasetState()


@pytest.fixture
def scheduler(runs: InMemoryRunStore, datasets: FakeDatasetState, clock: Clock) -> ThresholdScheduler:
    return Replica(runs, datasets, clock).scheduler


def start_and_finish(
    runs: InMemoryRunStore,
    datasets: FakeDatasetState,
    run: RunRecord,
    now: dt.datetime,
    counted_meanwhile: int = 0,
) -> None:
    """What the executor does: start the run, consuming the counter it read (``counted_meanwhile``
    records arrive between its read and its write), then finish it."""
    assert runs.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=now) is not None
    consumed, _ = datasets.read(run.dataset)
    datasets.add(run.dataset, counted_meanwhile)
    datasets.mark_training_started(run.dataset, consumed, now)
    assert runs.move(run.run_id, {RunState.RUNNING}, RunState.SUCCEEDED, finished_at=now) is not None


def checks(dataset: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "tuneline_trainer_scheduler_checks_total", {"dataset": dataset, "outcome": outcome}
    )
    return value or 0.0


def test_below_the_threshold_no_run_is_submitted(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState
) -> None:
    datasets.add("support", 499)

    assert not scheduler.check("support")

    assert runs.list() == []
    assert REGISTRY.get_sample_value("tuneline_trainer_records_since_training", {"dataset": "support"}) == 499


def test_at_the_threshold_one_threshold_run_is_submitted(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState
) -> None:
    datasets.add("support", 500)

    assert scheduler.check("support")
    assert not scheduler.check("support")  # the queued run is active: no second one

    [run] = runs.list()
    assert run.dataset == "support"
    assert run.state is RunState.QUEUED
    assert run.reason is TriggerReason.THRESHOLD
    assert run.requested_by == "scheduler"
    assert run.config["base_model"] == CONFIG.defaults.base_model


def test_two_replicas_checking_at_once_submit_exactly_one_run(
    runs: InMemoryRunStore, datasets: FakeDatasetState, clock: Clock
) -> None:
    datasets.add("support", 800)
    replicas = [Replica(runs, datasets, clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    original_list = runs.list

    def list_then_wait(dataset: str | None = None, limit: int = 100) -> list[RunRecord]:
        found = original_list(dataset, limit)
        barrier.wait(5)  # both have seen "no active run" before either submits
        return found

    runs.list = list_then_wait  # type: ignore[method-assign]
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda r=r: results.append(r.scheduler.check("support"))) for r in replicas
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    runs.list = original_list  # type: ignore[method-assign]

    assert sorted(results) == [False, True]
    assert len(runs.list()) == 1


def test_after_a_run_starts_no_new_run_until_the_threshold_is_reached_again(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState, clock: Clock
) -> None:
    datasets.add("docs", 150)
    assert scheduler.check("docs")
    [first] = runs.list()
    start_and_finish(runs, datasets, first, clock.now, counted_meanwhile=20)

    clock.advance(60)
    assert datasets.read("docs") == (20, T0)  # counted while the run started: toward the next one
    assert not scheduler.check("docs")
    datasets.add("docs", 79)
    assert not scheduler.check("docs")
    datasets.add("docs", 1)
    assert scheduler.check("docs")

    second, again = runs.list()
    assert again.run_id == first.run_id
    assert second.run_id != first.run_id
    assert second.idempotency_key != first.idempotency_key


def test_the_cooldown_holds_a_run_back_until_it_has_elapsed(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState, clock: Clock
) -> None:
    datasets.add("support", 500)
    assert scheduler.check("support")
    [first] = runs.list()
    start_and_finish(runs, datasets, first, clock.now)
    datasets.add("support", 5000)

    clock.advance(3599)
    assert not scheduler.check("support")
    clock.advance(1)
    assert scheduler.check("support")
    assert len(runs.list()) == 2


def test_check_all_skips_datasets_that_are_not_scheduled(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState
) -> None:
    datasets.add("crm", 10**6)
    datasets.add("docs", 100)

    scheduler.check_all()

    assert [run.dataset for run in runs.list()] == ["docs"]


def test_one_datasets_failure_does_not_stop_the_others(runs: InMemoryRunStore, clock: Clock) -> None:
    datasets = FakeDatasetState(broken=frozenset({"support"}))
    datasets.add("docs", 100)
    errors_before = checks("support", "error")
    errors: list[Exception] = []

    Replica(runs, datasets, clock).scheduler.check_all(on_error=errors.append)

    assert [str(e) for e in errors] == ["cannot read the counter of support"]
    assert [run.dataset for run in runs.list()] == ["docs"]
    assert checks("support", "error") == errors_before + 1


def test_a_threshold_run_cancelled_before_it_started_does_not_block_the_next(
    scheduler: ThresholdScheduler, runs: InMemoryRunStore, datasets: FakeDatasetState
) -> None:
    datasets.add("support", 500)
    assert scheduler.check("support")
    [first] = runs.list()
    assert runs.request_cancel(first.run_id) is not None  # cancelled while queued: nothing consumed

    assert scheduler.check("support")  # the counter is still past the threshold: a new run, new key

    states = {run.run_id: run.state for run in runs.list()}
    assert len(states) == 2 and states[first.run_id] is RunState.CANCELLED
    assert list(states.values()).count(RunState.QUEUED) == 1
