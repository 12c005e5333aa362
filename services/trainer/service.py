"""The trainer's facade: what the admin API (and the threshold scheduler) may ask of it.

No HTTP here: the API translates requests into these calls and these errors into status codes.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from libs.schemas.events import TriggerReason
from services.trainer.core.config import TrainerConfig
from services.trainer.core.errors import InvalidTransition, RunNotFound, TrainerError
from services.trainer.core.runs import RunRecord, RunState, RunStore, new_run_id

log = logging.getLogger(__name__)

# How many recent runs ``models()`` looks through (the production model is always included).
MODELS_SCAN_LIMIT = 1000


class IdempotencyKeyReused(TrainerError):
    """An idempotency key came back with a different dataset or overrides than its first request."""


class ModelRegistryView(Protocol):
    """The read side of the model registry: which run is in production, per dataset."""

    def production_all(self) -> dict[str, str]:
        """dataset -> run id of its production model."""
        ...


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A trained model (a succeeded run with a ``model_uri``) and whether it serves its dataset."""

    run: RunRecord
    production: bool


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TrainerService:
    def __init__(
        self,
        config: TrainerConfig,
        runs: RunStore,
        registry: ModelRegistryView,
        clock: Callable[[], dt.datetime] = utc_now,
        on_submitted: Callable[[RunRecord], None] | None = None,
    ) -> None:
        self._config = config
        self._runs = runs
        self._registry = registry
        self._clock = clock
        self._on_submitted = on_submitted

    def submit(
        self,
        dataset: str,
        overrides: dict[str, Any],
        idempotency_key: str | None,
        requested_by: str,
        reason: TriggerReason = TriggerReason.MANUAL,
    ) -> tuple[RunRecord, bool]:
        """Queue a run; returns it and True, or with a known ``idempotency_key`` that key's run and False.

        Raises UnknownDataset or ConfigError (nothing stored) and IdempotencyKeyReused when the key's
        first request asked for another dataset or other overrides.
        """
        resolved = self._config.training_for(dataset, overrides)  # validates before anything is stored
        now = self._clock()
        run = RunRecord(
            run_id=new_run_id(dataset, now),
            dataset=dataset,
            reason=reason,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            overrides=overrides,
            config=resolved.model_dump(mode="json"),
            created_at=now,
        )
        stored, created = self._runs.create(run)
        if not created:
            if stored.dataset != dataset or stored.overrides != overrides:
                raise IdempotencyKeyReused(
                    f"idempotency key already used for run {stored.run_id} with a different request"
                )
            return stored, False
        log.info(
            "training run queued",
            extra={"run_id": stored.run_id, "dataset": dataset, "reason": str(reason), "by": requested_by},
        )
        if self._on_submitted is not None:
            try:
                self._on_submitted(stored)
            except Exception:  # the run is safely queued; the executor's own poll will find it
                log.exception("on_submitted callback failed", extra={"run_id": stored.run_id})
        return stored, True

    def get(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(f"no training run {run_id!r}")
        return run

    def list(self, dataset: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Newest first."""
        return self._runs.list(dataset, limit)

    def cancel(self, run_id: str) -> RunRecord:
        """Cancel a queued run at once, or ask a running one to stop; idempotent while it is active.

        Raises RunNotFound, or InvalidTransition when the run has already finished.
        """
        run = self.get(run_id)
        if not run.state.finished:
            updated = self._runs.request_cancel(run_id)
            if updated is not None:
                log.info(
                    "training run cancel requested", extra={"run_id": run_id, "state": str(updated.state)}
                )
                return updated
            run = self.get(run_id)  # it finished between the read and the write
        raise InvalidTransition(f"training run {run_id!r} has already finished ({run.state})")

    def models(self, dataset: str | None = None) -> builtins.list[ModelEntry]:
        """Trained models, newest first, each flagged when it is its dataset's production model."""
        production = self.production(dataset)
        runs = self._runs.list(dataset, MODELS_SCAN_LIMIT)
        seen = {run.run_id for run in runs}
        for run_id in production.values():  # an old production model may lie beyond the scanned window
            if run_id not in seen and (run := self._runs.get(run_id)) is not None:
                runs.append(run)
        entries = [
            ModelEntry(run, production.get(run.dataset) == run.run_id)
            for run in runs
            if run.state is RunState.SUCCEEDED and run.model_uri
        ]
        entries.sort(key=lambda e: (e.run.created_at, e.run.run_id), reverse=True)
        return entries

    def production(self, dataset: str | None = None) -> dict[str, str]:
        """dataset -> production run id (only ``dataset`` when given)."""
        production = self._registry.production_all()
        if dataset is None:
            return dict(production)
        return {dataset: production[dataset]} if dataset in production else {}
