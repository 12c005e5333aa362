"""The trainer's facade: what the admin API (and the threshold scheduler) may ask of it.

No HTTP here: the API translates requests into these calls and these errors into status codes.
Besides training runs it fronts the model registry (``libs.registry``): the production model of each
dataset with its audit history, manual promotions and rollbacks, and the evaluator's reports.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlparse

from libs.model_folder.files import (
    DRIFT_DIR,
    DRIFT_MARKDOWN,
    EVALUATION_CHARTS_DIR,
    EVALUATION_DIR,
    EVALUATION_MARKDOWN,
)
from libs.registry import DriftCheck, Production, RegistryError
from libs.registry import NothingToRollBack as RegistryNothingToRollBack
from libs.schemas.events import TriggerReason
from services.trainer.core.config import TrainerConfig
from services.trainer.core.errors import InvalidTransition, RunNotFound, TrainerError, UnknownDataset
from services.trainer.core.runs import RunRecord, RunState, RunStore, new_run_id

log = logging.getLogger(__name__)

# How many recent runs ``models()`` looks through (the production model is always included).
MODELS_SCAN_LIMIT = 1000

# The registry's ``action`` of a promotion made by hand through the admin API (the evaluator's are
# "promote", rollbacks "rollback").
MANUAL_PROMOTE: Final = "manual_promote"

# The evaluator writes its report files next to the model: ``<model folder>/evaluation/``.
CHART_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class IdempotencyKeyReused(TrainerError):
    """An idempotency key came back with a different dataset or overrides than its first request."""


class DatasetNotFound(TrainerError):
    """A model-registry operation named a dataset that is not configured."""


class NotPromotable(TrainerError):
    """The run did not succeed, or left no model."""


class ProductionChanged(TrainerError):
    """Someone else changed the production model between our read and our write; look again."""


class NothingToRollBack(TrainerError):
    """The dataset has no earlier production model to go back to."""


class ProductionNotFound(TrainerError):
    """The dataset has no production model."""


class EvaluationNotFound(TrainerError):
    """No evaluation report is stored for the run."""


class ReportFileNotFound(TrainerError):
    """An evaluation report file is not here: not written, or kept in S3 rather than a local folder."""


class DriftNotFound(TrainerError):
    """No continuous-evaluation check is stored for the dataset."""


class CoolingDown(TrainerError):
    """An automatic (drift) run was asked for while the dataset has a run active or is in its cooldown."""


class ModelRegistryPort(Protocol):
    """What the trainer needs of the model registry; ``libs.registry.ModelRegistry`` is the real one."""

    def production_all(self) -> dict[str, str]:
        """dataset -> run id of its production model."""
        ...

    def production(self, dataset: str) -> Production | None:
        """The dataset's production model with its history (oldest first); None when there is none."""
        ...

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
        """Make ``run_id`` production if the current one is still ``expected_current``; False otherwise."""
        ...

    def rollback(self, dataset: str, actor: str, reason: str, now: dt.datetime | None = None) -> Production:
        """Put back the previous production model; NothingToRollBack, or RegistryError on a race."""
        ...

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored evaluation (run_id, dataset, decision, evaluated_at, report) or None."""
        ...

    def drift(self, dataset: str) -> DriftCheck | None:
        """The dataset's latest continuous-evaluation check, or None."""
        ...


ModelRegistryView = ModelRegistryPort  # its earlier, read-only name


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
        registry: ModelRegistryPort,
        clock: Callable[[], dt.datetime] = utc_now,
        on_submitted: Callable[[RunRecord], None] | None = None,
        on_production_changed: Callable[[Production], None] | None = None,
    ) -> None:
        self._config = config
        self._runs = runs
        self._registry = registry
        self._clock = clock
        self._on_submitted = on_submitted
        self._on_production_changed = on_production_changed

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
        first request asked for another dataset or other overrides. A ``drift`` run (the evaluator's
        continuous evaluation asks for it) respects the dataset's cooldown like a threshold run:
        CoolingDown while a run is active or the last one started less than ``cooldown_s`` ago (a
        known ``idempotency_key`` still returns its run).
        """
        resolved = self._config.training_for(dataset, overrides)  # validates before anything is stored
        now = self._clock()
        if reason is TriggerReason.DRIFT:
            self._check_cooldown(dataset, idempotency_key, now)
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

    def _check_cooldown(self, dataset: str, idempotency_key: str | None, now: dt.datetime) -> None:
        recent = self._runs.list(dataset, limit=20)
        if idempotency_key is not None and any(r.idempotency_key == idempotency_key for r in recent):
            return  # a replay: create() returns that run
        active = next((r for r in recent if not r.state.finished), None)
        if active is not None:
            raise CoolingDown(f"run {active.run_id} of {dataset!r} is {active.state}: no drift run now")
        if recent:
            last = recent[0].started_at or recent[0].created_at
            until = last + dt.timedelta(seconds=self._config.policy(dataset).cooldown_s)
            if now < until:
                raise CoolingDown(
                    f"{dataset!r} is cooling down until {until.isoformat()} (its last run started)"
                )

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

    # ---- the model registry ------------------------------------------------------------------------

    def production_of(self, dataset: str) -> Production:
        """The dataset's production model and its history; ProductionNotFound when it has none."""
        current = self._registry.production(dataset)
        if current is None:
            raise ProductionNotFound(f"dataset {dataset!r} has no production model")
        return current

    def promote(self, run_id: str, actor: str, reason: str) -> tuple[Production, bool]:
        """Make the run's model its dataset's production model by hand, whatever its evaluation said;
        returns the production model now and whether this call changed it.

        Audited in the registry's history (``action`` "manual_promote", ``by`` actor, the reason).
        Promoting the model already in production changes nothing (and adds no entry). Raises RunNotFound,
        NotPromotable (not succeeded, or no model) and ProductionChanged (a concurrent change won).
        """
        run = self.get(run_id)
        if run.state is not RunState.SUCCEEDED:
            raise NotPromotable(f"training run {run_id!r} is {run.state}: only a succeeded run has a model")
        if not run.model_uri:
            raise NotPromotable(f"training run {run_id!r} succeeded but left no model")
        current = self._registry.production(run.dataset)
        if current is not None and current.run_id == run_id:
            return current, False
        expected = current.run_id if current is not None else None
        changed = self._registry.set_production(
            run.dataset,
            run_id,
            run.model_uri,
            expected,
            now=self._clock(),
            actor=actor,
            action=MANUAL_PROMOTE,
            reason=reason,
        )
        promoted = self._registry.production(run.dataset) if changed else None
        if promoted is None:
            raise ProductionChanged(
                f"the production model of {run.dataset!r} changed meanwhile (it was {expected}); look again"
            )
        log.warning(
            "model promoted by hand",
            extra={
                "run_id": run_id,
                "dataset": run.dataset,
                "by": actor,
                "previous": expected,
                "reason": reason,
            },
        )
        self._announce(promoted)
        return promoted, True

    def rollback(self, dataset: str, actor: str, reason: str) -> Production:
        """Put the dataset's previous production model back (audited like a promotion).

        Raises DatasetNotFound (not configured), NothingToRollBack and ProductionChanged.
        """
        try:
            self._config.policy(dataset)
        except UnknownDataset as exc:
            raise DatasetNotFound(str(exc)) from None
        try:
            restored = self._registry.rollback(dataset, actor=actor, reason=reason, now=self._clock())
        except RegistryNothingToRollBack as exc:
            raise NothingToRollBack(str(exc)) from None
        except RegistryError as exc:
            raise ProductionChanged(str(exc)) from None
        log.warning(
            "production model rolled back",
            extra={"run_id": restored.run_id, "dataset": dataset, "by": actor, "reason": reason},
        )
        self._announce(restored)
        return restored

    def _announce(self, production: Production) -> None:
        """Tell serving deployments (ModelPromoted); the registry already holds the change, so a failed
        announcement is logged, not raised: the operator's request did take effect."""
        if self._on_production_changed is None:
            return
        try:
            self._on_production_changed(production)
        except Exception:
            log.exception("could not announce the production change", extra={"dataset": production.dataset})

    def evaluation(self, run_id: str) -> dict[str, Any]:
        """The run's evaluation: run_id, dataset, decision, evaluated_at and the report (JSON)."""
        stored = self._registry.evaluation(run_id)
        if stored is None:
            raise EvaluationNotFound(f"no evaluation of run {run_id!r}")
        return stored

    def drift(self, dataset: str) -> DriftCheck:
        """The dataset's latest continuous-evaluation check (report and history); DriftNotFound."""
        check = self._registry.drift(dataset)
        if check is None:
            raise DriftNotFound(f"no continuous-evaluation check of {dataset!r} yet")
        return check

    def drift_markdown(self, dataset: str) -> Path:
        """The latest check's ``drift.md`` (a local model folder only)."""
        return self._drift_file(dataset, DRIFT_MARKDOWN)

    def drift_chart(self, dataset: str, name: str) -> Path:
        """The latest check's ``charts/<name>.png``."""
        if CHART_NAME.fullmatch(name) is None:
            raise ReportFileNotFound(f"no chart named {name!r}")
        return self._drift_file(dataset, f"{EVALUATION_CHARTS_DIR}/{name}.png")

    def _drift_file(self, dataset: str, file_name: str) -> Path:
        check = self.drift(dataset)
        folder = local_folder(check.report_dir)
        if folder is None:
            raise ReportFileNotFound(
                f"the drift report of {dataset!r} is not on this machine: read it at "
                f"{check.report_dir.rstrip('/')}/{file_name}"
            )
        return _inside(folder.resolve(), file_name, f"{dataset!r} has no {DRIFT_DIR}/{file_name}")

    def report_markdown(self, run_id: str) -> Path:
        """The run's ``evaluation/evaluation.md`` (a local model folder only)."""
        return self._report_file(run_id, EVALUATION_MARKDOWN)

    def report_chart(self, run_id: str, name: str) -> Path:
        """The run's ``evaluation/charts/<name>.png``; ``name`` is 1 to 64 of ``[A-Za-z0-9_-]``."""
        if CHART_NAME.fullmatch(name) is None:
            raise ReportFileNotFound(f"no chart named {name!r}")
        return self._report_file(run_id, f"{EVALUATION_CHARTS_DIR}/{name}.png")

    def _report_file(self, run_id: str, file_name: str) -> Path:
        run = self.get(run_id)
        if not run.model_uri:
            raise ReportFileNotFound(f"training run {run_id!r} has no model, hence no evaluation report")
        folder = local_folder(run.model_uri)
        if folder is None:
            raise ReportFileNotFound(
                f"the evaluation report of {run_id!r} is not on this machine: "
                f"read it at {run.model_uri.rstrip('/')}/{EVALUATION_DIR}/{file_name}"
            )
        evaluation = (folder / EVALUATION_DIR).resolve()
        return _inside(
            evaluation, file_name, f"run {run_id!r} has no evaluation/{file_name} (not evaluated yet?)"
        )


def _inside(folder: Path, file_name: str, missing: str) -> Path:
    """``folder/file_name`` when it is a file inside ``folder``; ReportFileNotFound(missing) otherwise.
    ``file_name`` is ours or checked; resolving guards against a link leading out all the same."""
    path = (folder / file_name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise ReportFileNotFound(missing)
    return path


def local_folder(model_uri: str) -> Path | None:
    """The folder of a model kept on this machine (a path or ``file://``); None for s3:// and others."""
    if model_uri.startswith("file://"):
        return Path(unquote(urlparse(model_uri).path))
    if "://" in model_uri:
        return None
    return Path(model_uri)
