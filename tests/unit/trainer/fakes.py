"""In-memory stand-ins for the trainer's stores, faithful to their protocols (unit tests only)."""

from __future__ import annotations

import builtins
import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

from libs.registry import MAX_HISTORY, DriftCheck, NothingToRollBack, Production, RegistryError
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
        self.claims: dict[str, tuple[str, int]] = {}  # run id -> (owner, until ms): outside RunRecord

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

    def unannounced(self) -> builtins.list[RunRecord]:
        with self._lock:
            runs = [r for r in self._runs.values() if r.announced is False]
        return sorted(runs, key=lambda r: (r.finished_at or r.created_at, r.run_id))

    def claim_announcement(self, run_id: str, owner: str, now_ms: int, hold_ms: int) -> bool:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.announced is not False:
                return False
            claim = self.claims.get(run_id)
            if claim is not None and claim[1] >= now_ms:
                return False
            self.claims[run_id] = (owner, now_ms + hold_ms)
            return True

    def mark_announced(self, run_id: str) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._runs[run_id] = self._replace(run, announced=True)
                self.claims.pop(run_id, None)

    @staticmethod
    def _replace(run: RunRecord, **fields: Any) -> RunRecord:
        return RunRecord.model_validate({**run.model_dump(), **fields})  # validated, like a real write


class FakeRegistry:
    """``ModelRegistryPort`` in memory, with the semantics of ``libs.registry.ModelRegistry``: conditional
    changes of production, every change appended to the history (JSON round-tripped, the latest
    ``MAX_HISTORY`` kept), rollback to ``previous_run_id`` found in the history, evaluations by run id.

    ``promote`` (tests only) makes a run production whatever is there now.
    """

    def __init__(self, production: dict[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}  # dataset -> the production item
        self._evaluations: dict[str, dict[str, Any]] = {}
        self.drifts: dict[str, DriftCheck] = {}  # tests set them directly
        for dataset, run_id in (production or {}).items():
            self.promote(dataset, run_id)

    def production_all(self) -> dict[str, str]:
        with self._lock:
            return {dataset: item["run_id"] for dataset, item in self._items.items()}

    def production(self, dataset: str) -> Production | None:
        with self._lock:
            item = self._items.get(dataset)
            if item is None:
                return None
            return Production(
                dataset=dataset,
                run_id=item["run_id"],
                model_uri=item["model_uri"],
                promoted_at=dt.datetime.fromisoformat(item["promoted_at"]),
                promoted_by=item["promoted_by"],
                action=item["action"],
                reason=item["reason"],
                previous_run_id=item["previous_run_id"],
                history=[json.loads(entry) for entry in item["history"]],
            )

    def set_production(
        self,
        dataset: str,
        run_id: str,
        model_uri: str,
        expected_current: str | None,
        now: dt.datetime | None = None,
        actor: str = "evaluator",
        action: str = "promote",
        reason: str = "",
    ) -> bool:
        when = (now or _utc_now()).isoformat()
        entry = {"run_id": run_id, "model_uri": model_uri, "at": when, "by": actor, "action": action,
                 "reason": reason, "previous_run_id": expected_current}  # fmt: skip
        with self._lock:
            item = self._items.get(dataset)
            if (item["run_id"] if item is not None else None) != expected_current:
                return False
            history = [*(item["history"] if item is not None else []), json.dumps(entry)][-MAX_HISTORY:]
            self._items[dataset] = {
                "run_id": run_id,
                "model_uri": model_uri,
                "promoted_at": when,
                "promoted_by": actor,
                "action": action,
                "reason": reason,
                "previous_run_id": expected_current,
                "history": history,
            }
            return True

    def rollback(self, dataset: str, actor: str, reason: str, now: dt.datetime | None = None) -> Production:
        current = self.production(dataset)
        if current is None or current.previous_run_id is None:
            raise NothingToRollBack(f"dataset {dataset!r} has no earlier production model to roll back to")
        earlier = next((e for e in reversed(current.history) if e["run_id"] == current.previous_run_id), None)
        if earlier is None:
            raise NothingToRollBack(f"the history of {dataset!r} no longer holds {current.previous_run_id}")
        if not self.set_production(dataset, earlier["run_id"], earlier["model_uri"], current.run_id, now,
                                   actor=actor, action="rollback", reason=reason):  # fmt: skip
            raise RegistryError(f"the production model of {dataset!r} changed meanwhile; look again")
        changed = self.production(dataset)
        assert changed is not None
        return changed

    def put_evaluation(self, run_id: str, dataset: str, decision: str, report: dict[str, Any]) -> None:
        with self._lock:
            self._evaluations[run_id] = {
                "run_id": run_id,
                "dataset": dataset,
                "decision": decision,
                "evaluated_at": _utc_now().isoformat(),
                "report": json.dumps(report),
            }

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._evaluations.get(run_id)
        if stored is None:
            return None
        return {**stored, "report": json.loads(stored["report"])}

    def drift(self, dataset: str) -> DriftCheck | None:
        with self._lock:
            return self.drifts.get(dataset)

    def promote(self, dataset: str, run_id: str, model_uri: str | None = None) -> None:
        """Make ``run_id`` production now, whatever is there (tests only)."""
        with self._lock:
            current = self._items.get(dataset)
            expected = current["run_id"] if current is not None else None
            assert self.set_production(dataset, run_id, model_uri or f"/models/{run_id}", expected)
