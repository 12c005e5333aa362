"""In-memory stand-ins for the trainer's stores, faithful to their protocols (unit tests only)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from services.trainer.core.errors import InvalidTransition
from services.trainer.core.runs import ACTIVE, RunRecord, RunState, can_move


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class InMemoryRunStore:
    """``RunStore`` in a dict: idempotency keys are unique, moves are conditional, every call is atomic."""

    def __init__(self, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._keys: dict[str, str] = {}  # idempotency key -> run id

    def create(self, run: RunRecord) -> tuple[RunRecord, bool]:
        if run.state is not RunState.QUEUED:
            raise ValueError(f"a new run must be queued, not {run.state}")
        with self._lock:
            key = run.idempotency_key
            if key is not None and key in self._keys:
                return self._runs[self._keys[key]], False
            if run.run_id in self._runs:  # the conditional put on run_id fails in DynamoDB too
                raise ValueError(f"run {run.run_id} already exists")
            self._runs[run.run_id] = run
            if key is not None:
                self._keys[key] = run.run_id
            return run, True

    def get(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def list(self, dataset: str | None = None, limit: int = 100) -> list[RunRecord]:
        with self._lock:
            runs = [r for r in self._runs.values() if dataset is None or r.dataset == dataset]
        runs.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return runs[:limit]

    def move(self, run_id: str, source: set[RunState], target: RunState, **fields: Any) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state not in source:
                return None
            if not can_move(run.state, target):
                raise InvalidTransition(f"{run.state} -> {target}")
            moved = self._replace(run, state=target, **fields)
            self._runs[run_id] = moved
            return moved

    def update(self, run_id: str, **fields: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._runs[run_id] = self._replace(run, **fields)

    def request_cancel(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state not in ACTIVE:
                return None
            if run.state is RunState.QUEUED:
                updated = self._replace(
                    run, state=RunState.CANCELLED, cancel_requested=True, finished_at=self._clock()
                )
            else:
                updated = self._replace(run, cancel_requested=True)
            self._runs[run_id] = updated
            return updated

    @staticmethod
    def _replace(run: RunRecord, **fields: Any) -> RunRecord:
        return RunRecord.model_validate({**run.model_dump(), **fields})  # validated, like a real write


class FakeRegistry:
    """``ModelRegistryView`` with a ``promote`` for tests."""

    def __init__(self, production: dict[str, str] | None = None) -> None:
        self._production = dict(production or {})

    def production_all(self) -> dict[str, str]:
        return dict(self._production)

    def promote(self, dataset: str, run_id: str) -> None:
        self._production[dataset] = run_id
