from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from libs.registry import MAX_HISTORY, ModelRegistry
from libs.schemas.events import TriggerReason
from services.trainer.core.config import TrainerConfig
from services.trainer.core.errors import ConfigError, InvalidTransition, RunNotFound, UnknownDataset
from services.trainer.core.runs import RunRecord, RunState
from services.trainer.service import (
    DatasetNotFound,
    EvaluationNotFound,
    IdempotencyKeyReused,
    ModelRegistryPort,
    NothingToRollBack,
    NotPromotable,
    ProductionNotFound,
    ReportFileNotFound,
    TrainerService,
)
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """Advances one second per call, so runs are ordered by creation."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def make_config() -> TrainerConfig:
    return TrainerConfig.model_validate(
        {
            "defaults": {"learning_rate": 0.001},
            "datasets": [{"name": "docs", "training": {"epochs": 2}}, {"name": "tickets"}],
        }
    )


@pytest.fixture
def submitted() -> list[RunRecord]:
    return []


@pytest.fixture
def service(store: InMemoryRunStore, registry: FakeRegistry, submitted: list[RunRecord]) -> TrainerService:
    return TrainerService(make_config(), store, registry, clock=Clock(), on_submitted=submitted.append)


def finish(store: InMemoryRunStore, run_id: str, state: RunState, **fields: object) -> RunRecord:
    assert store.move(run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0) is not None
    moved = store.move(run_id, {RunState.RUNNING}, state, finished_at=T0, **fields)
    assert moved is not None
    return moved


def test_submit_stores_a_queued_run_with_the_resolved_config(
    service: TrainerService, store: InMemoryRunStore, submitted: list[RunRecord]
) -> None:
    run, created = service.submit("docs", {"learning_rate": 0.0005}, None, "alice")

    assert created
    assert store.get(run.run_id) == run
    assert run.state is RunState.QUEUED
    assert run.run_id.startswith("docs-")
    assert run.reason is TriggerReason.MANUAL
    assert run.requested_by == "alice"
    assert run.overrides == {"learning_rate": 0.0005}
    assert run.config["learning_rate"] == 0.0005  # the request's override
    assert run.config["epochs"] == 2.0  # the dataset's policy
    assert submitted == [run]  # the executor was woken


def test_submit_passes_the_reason(service: TrainerService) -> None:
    run, _ = service.submit("docs", {}, None, "scheduler", reason=TriggerReason.THRESHOLD)
    assert run.reason is TriggerReason.THRESHOLD


def test_invalid_overrides_store_nothing(service: TrainerService, store: InMemoryRunStore) -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        service.submit("docs", {"learning_rate": "fast"}, "k1", "alice")
    with pytest.raises(ConfigError, match="no_such_field"):
        service.submit("docs", {"no_such_field": 1}, "k1", "alice")
    assert store.list() == []


def test_unknown_dataset_stores_nothing(service: TrainerService, store: InMemoryRunStore) -> None:
    with pytest.raises(UnknownDataset):
        service.submit("nope", {}, None, "alice")
    assert store.list() == []


def test_same_idempotency_key_returns_the_first_run(
    service: TrainerService, store: InMemoryRunStore, submitted: list[RunRecord]
) -> None:
    first, created = service.submit("docs", {"epochs": 3}, "key-1", "alice")
    again, created_again = service.submit("docs", {"epochs": 3}, "key-1", "alice")

    assert created and not created_again
    assert again == first
    assert len(store.list()) == 1
    assert submitted == [first]  # a replay wakes nobody


def test_idempotency_key_with_another_request_is_refused(service: TrainerService) -> None:
    service.submit("docs", {}, "key-1", "alice")
    with pytest.raises(IdempotencyKeyReused):
        service.submit("tickets", {}, "key-1", "alice")
    with pytest.raises(IdempotencyKeyReused):
        service.submit("docs", {"epochs": 3}, "key-1", "alice")


def test_different_keys_start_different_runs(service: TrainerService, store: InMemoryRunStore) -> None:
    a, _ = service.submit("docs", {}, "key-a", "alice")
    b, _ = service.submit("docs", {}, "key-b", "alice")
    assert a.run_id != b.run_id
    assert len(store.list()) == 2


def test_concurrent_submits_with_one_key_start_one_run(
    service: TrainerService, store: InMemoryRunStore
) -> None:
    barrier = threading.Barrier(16)

    def submit(_: int) -> tuple[RunRecord, bool]:
        barrier.wait()
        return service.submit("docs", {}, "same-key", "alice")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(submit, range(16)))

    assert len({run.run_id for run, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list()) == 1


def test_a_failing_wake_up_does_not_lose_the_run(store: InMemoryRunStore, registry: FakeRegistry) -> None:
    def explode(run: RunRecord) -> None:
        raise RuntimeError("executor gone")

    service = TrainerService(make_config(), store, registry, on_submitted=explode)
    run, created = service.submit("docs", {}, None, "alice")
    assert created and store.get(run.run_id) == run


def test_get_and_list(service: TrainerService) -> None:
    a, _ = service.submit("docs", {}, None, "alice")
    b, _ = service.submit("tickets", {}, None, "alice")
    c, _ = service.submit("docs", {}, None, "alice")

    assert service.get(b.run_id) == b
    with pytest.raises(RunNotFound):
        service.get("missing")
    assert service.list() == [c, b, a]
    assert service.list("docs") == [c, a]
    assert service.list("docs", limit=1) == [c]


def test_cancel_a_queued_run_cancels_it_at_once(service: TrainerService) -> None:
    run, _ = service.submit("docs", {}, None, "alice")
    cancelled = service.cancel(run.run_id)
    assert cancelled.state is RunState.CANCELLED
    assert cancelled.cancel_requested
    assert cancelled.finished_at is not None


def test_cancel_a_running_run_asks_it_to_stop(service: TrainerService, store: InMemoryRunStore) -> None:
    run, _ = service.submit("docs", {}, None, "alice")
    store.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)

    first = service.cancel(run.run_id)
    again = service.cancel(run.run_id)  # still stopping: harmless

    assert first.state is RunState.RUNNING and first.cancel_requested
    assert again.cancel_requested


@pytest.mark.parametrize("state", [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED])
def test_cancel_a_finished_run_is_an_invalid_transition(
    service: TrainerService, store: InMemoryRunStore, state: RunState
) -> None:
    run, _ = service.submit("docs", {}, None, "alice")
    if state is RunState.CANCELLED:
        service.cancel(run.run_id)
    else:
        finish(store, run.run_id, state)
    with pytest.raises(InvalidTransition):
        service.cancel(run.run_id)


def test_cancel_an_unknown_run(service: TrainerService) -> None:
    with pytest.raises(RunNotFound):
        service.cancel("missing")


def test_cancel_a_run_that_finishes_meanwhile(store: InMemoryRunStore, registry: FakeRegistry) -> None:
    service = TrainerService(make_config(), store, registry)
    run, _ = service.submit("docs", {}, None, "alice")
    real_request_cancel: Callable[[str], RunRecord | None] = store.request_cancel

    def finish_first(run_id: str) -> RunRecord | None:
        finish(store, run_id, RunState.SUCCEEDED)
        return real_request_cancel(run_id)

    store.request_cancel = finish_first  # type: ignore[method-assign]
    with pytest.raises(InvalidTransition, match="succeeded"):
        service.cancel(run.run_id)


def test_models_lists_succeeded_runs_with_a_model_and_flags_production(
    service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    old, _ = service.submit("docs", {}, None, "alice")
    new, _ = service.submit("docs", {}, None, "alice")
    other, _ = service.submit("tickets", {}, None, "alice")
    failed, _ = service.submit("docs", {}, None, "alice")
    service.submit("docs", {}, None, "alice")  # still queued
    finish(store, old.run_id, RunState.SUCCEEDED, model_uri="s3://m/old")
    finish(store, new.run_id, RunState.SUCCEEDED, model_uri="s3://m/new")
    finish(store, other.run_id, RunState.SUCCEEDED, model_uri="/models/other")
    finish(store, failed.run_id, RunState.FAILED, error="boom")
    registry.promote("docs", old.run_id)

    models = service.models()

    assert [(m.run.run_id, m.production) for m in models] == [
        (other.run_id, False),
        (new.run_id, False),
        (old.run_id, True),
    ]
    assert [m.run.run_id for m in service.models("docs")] == [new.run_id, old.run_id]
    assert service.production() == {"docs": old.run_id}
    assert service.production("tickets") == {}


# --- the model registry -------------------------------------------------------------------------------


def test_the_real_registry_and_the_fake_satisfy_the_port() -> None:
    ports: list[ModelRegistryPort] = [ModelRegistry(object(), "test"), FakeRegistry()]  # checked by mypy
    assert all(callable(getattr(port, "rollback", None)) for port in ports)


def test_promote_and_rollback_are_audited_at_the_service_clock(
    service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    old, _ = service.submit("docs", {}, None, "alice")
    new, _ = service.submit("docs", {}, None, "alice")
    finish(store, old.run_id, RunState.SUCCEEDED, model_uri="s3://m/old")
    finish(store, new.run_id, RunState.SUCCEEDED, model_uri="s3://m/new")
    with pytest.raises(ProductionNotFound):
        service.production_of("docs")

    first, changed = service.promote(old.run_id, "alice", "first model")
    assert changed and first.previous_run_id is None
    second, changed = service.promote(new.run_id, "bob", "better")
    assert changed and (second.run_id, second.previous_run_id, second.action) == (
        new.run_id,
        old.run_id,
        "manual_promote",
    )
    same, changed = service.promote(new.run_id, "carol", "again")
    assert not changed and same == second
    assert second.promoted_at > first.promoted_at  # the service's clock, not the registry's

    restored = service.rollback("docs", "dave", "worse")
    assert (restored.run_id, restored.model_uri, restored.promoted_by) == (old.run_id, "s3://m/old", "dave")
    assert service.production_of("docs") == restored
    assert [(e["by"], e["action"]) for e in restored.history] == [
        ("alice", "manual_promote"),
        ("bob", "manual_promote"),
        ("dave", "rollback"),
    ]


def test_promote_refuses_runs_without_a_model(service: TrainerService, store: InMemoryRunStore) -> None:
    queued, _ = service.submit("docs", {}, None, "alice")
    empty, _ = service.submit("docs", {}, None, "alice")
    finish(store, empty.run_id, RunState.SUCCEEDED)
    for run in (queued, empty):
        with pytest.raises(NotPromotable):
            service.promote(run.run_id, "alice", "why not")
    with pytest.raises(RunNotFound):
        service.promote("missing", "alice", "why not")


def test_rollback_errors(service: TrainerService, registry: FakeRegistry) -> None:
    with pytest.raises(DatasetNotFound):
        service.rollback("payroll", "alice", "r")
    with pytest.raises(NothingToRollBack):
        service.rollback("docs", "alice", "r")
    registry.promote("docs", "docs-1")
    with pytest.raises(NothingToRollBack):
        service.rollback("docs", "alice", "r")


def test_the_fake_registry_keeps_the_latest_history_like_the_real_one(registry: FakeRegistry) -> None:
    for i in range(MAX_HISTORY + 3):
        registry.promote("docs", f"docs-{i}")
    production = registry.production("docs")
    assert production is not None
    assert len(production.history) == MAX_HISTORY
    assert production.history[0]["run_id"] == "docs-3"
    assert not registry.set_production("docs", "docs-x", "/m", expected_current="docs-0")


def test_evaluation_and_report_files(
    service: TrainerService, store: InMemoryRunStore, tmp_path: Path
) -> None:
    run, _ = service.submit("docs", {}, None, "alice")
    finish(store, run.run_id, RunState.SUCCEEDED, model_uri=str(tmp_path))
    with pytest.raises(EvaluationNotFound):
        service.evaluation(run.run_id)
    (tmp_path / "evaluation" / "charts").mkdir(parents=True)
    (tmp_path / "evaluation" / "evaluation.md").write_text("# Report")
    (tmp_path / "evaluation" / "charts" / "loss_curve.png").write_bytes(b"png")

    assert service.report_markdown(run.run_id) == (tmp_path / "evaluation" / "evaluation.md").resolve()
    assert service.report_chart(run.run_id, "loss_curve").read_bytes() == b"png"
    for name in ["../evaluation/loss_curve", "loss_curve.png", "", "/etc/passwd", "x" * 65]:
        with pytest.raises(ReportFileNotFound):
            service.report_chart(run.run_id, name)


def test_manual_changes_of_production_are_announced(store: InMemoryRunStore, tmp_path: Path) -> None:
    announced: list[str] = []
    registry = FakeRegistry()
    service = TrainerService(
        make_config(),
        store,
        registry,
        on_production_changed=lambda p: announced.append(f"{p.action}:{p.run_id}"),
    )
    first, _ = service.submit("docs", {}, None, "alice")
    second, _ = service.submit("docs", {}, None, "alice")
    for run in (first, second):
        finish(store, run.run_id, RunState.SUCCEEDED, model_uri=str(tmp_path / run.run_id))
        service.promote(run.run_id, actor="bob", reason="by hand")
    service.rollback("docs", actor="bob", reason="second is worse")

    assert announced == [
        f"manual_promote:{first.run_id}",
        f"manual_promote:{second.run_id}",
        f"rollback:{first.run_id}",
    ]
