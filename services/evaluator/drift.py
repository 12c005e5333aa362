"""Continuous evaluation: the production model of each dataset on the records that arrived since its
training watermark, against its evaluation at promotion; a ``drift`` training request when a source fell
behind (``core/drift.py`` decides, this module reads, measures, stores and asks).

``DriftChecker.check`` is shared by the worker's ``DriftScheduler`` (a background thread) and
``tuneline drift``. The report goes beside the model (``<model>/drift/``) and into the registry
(``model#<dataset>``, ``drift``), where the admin API serves it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

from libs.model_folder.files import DRIFT_DIR, MANIFEST_FILE
from libs.model_folder.manifest import ModelManifest
from libs.model_folder.store import local_model, model_store
from libs.registry import ModelRegistry
from services.evaluator import metrics
from services.evaluator.adapters.drift_io import AdminClient, FreshRecords, measure
from services.evaluator.adapters.report_files import save_drift_report
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.drift import (
    DriftReport,
    LastCheck,
    SourceDrift,
    TrainingRequestOutcome,
    baseline_metrics,
    check_due,
    compare,
    drove,
    history_entry,
    idempotency_key,
    summarize,
)

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Counters(Protocol):
    def get(self, dataset: str) -> dict[str, int]: ...


class DriftChecker:
    def __init__(
        self,
        registry: ModelRegistry,
        counters: Counters,
        fresh: FreshRecords,
        admin: AdminClient | None,
        config: EvaluatorConfig,
        work_dir: Path,
        clock: Clock = utc_now,
        model_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.registry, self.counters, self.fresh, self.admin = registry, counters, fresh, admin
        self.config, self.work_dir, self.clock = config, work_dir, clock
        # One model at a time in this process: evaluations seed torch's global generator.
        self.model_lock = model_lock if model_lock is not None else nullcontext()

    def check(self, dataset: str, force: bool = False) -> DriftReport | None:
        """Check ``dataset``'s production model when due (or ``force``); None when it was not checked."""
        cfg = self.config.drift
        production = self.registry.production(dataset)
        if production is None:
            log.debug("no production model: nothing to check", extra={"dataset": dataset})
            return None
        now = self.clock()
        stored = self.registry.drift(dataset)
        last = LastCheck(stored.run_id, stored.checked_at, stored.records_total) if stored else None
        counters = self.counters.get(dataset)
        due = check_due(cfg, production.run_id, production.promoted_at, counters, last, now)
        if not due.due and not force:
            metrics.DRIFT_CHECKS.labels(dataset, "not_due").inc()
            return None
        trigger = due.why if due.due else f"by hand ({due.why})"
        with metrics.DRIFT_SECONDS.time():
            report = self._check(dataset, production.run_id, production.model_uri, production.promoted_at,
                                 now, trigger)  # fmt: skip
        history = [*(stored.history if stored else []), history_entry(report)]
        folder = local_model(production.model_uri, self.work_dir) / DRIFT_DIR
        report = save_drift_report(report, folder, history)
        if production.model_uri.startswith("s3://"):  # the report joins the model it describes
            model_store(production.model_uri).publish(DRIFT_DIR, folder)
        self.registry.put_drift(
            dataset,
            production.run_id,
            now,
            counters.get("records_total", 0),
            report.model_dump(mode="json"),
            f"{production.model_uri.rstrip('/')}/{DRIFT_DIR}",
            history[-1],
        )
        self._observe(report)
        return report

    def _check(
        self,
        dataset: str,
        run_id: str,
        model_uri: str,
        promoted_at: dt.datetime,
        now: dt.datetime,
        trigger: str,
    ) -> DriftReport:
        cfg = self.config.drift
        model_dir = local_model(model_uri, self.work_dir)
        manifest = ModelManifest.model_validate_json((model_dir / MANIFEST_FILE).read_text())
        watermark = manifest.data.watermark
        until = now - dt.timedelta(seconds=cfg.settle_s)
        examples = self.fresh.examples(
            dataset,
            int(watermark.timestamp() * 1000),
            int(until.timestamp() * 1000),
            manifest.data.eval_fraction,
            cfg.held_out_only,
            cfg.max_records,
        )
        evaluation = self.registry.evaluation(run_id)
        baseline = baseline_metrics(evaluation["report"] if evaluation else None)
        overall: SourceDrift | None = None
        sources: list[SourceDrift] = []
        if examples:
            with self.model_lock:
                current = measure(model_dir, examples, self.config)
            overall, sources = compare(current, baseline, cfg)
        worst = drove(sources)
        summary = summarize(sources, cfg, baseline is not None) if examples else "no fresh records yet"
        if not worst:
            training = TrainingRequestOutcome(status="not_needed")
        elif not cfg.request_training or self.admin is None:
            training = TrainingRequestOutcome(status="disabled", detail="drift.request_training is off")
        else:
            key = idempotency_key(dataset, run_id, watermark, promoted_at, now, cfg.retry_after_s)
            training = self.admin.request_drift_run(dataset, key)
        return DriftReport(
            dataset=dataset,
            run_id=run_id,
            model_uri=model_uri,
            checked_at=now,
            window_start=watermark,
            window_end=until,
            trigger=trigger,
            metric=cfg.metric,
            margin=cfg.margin,
            min_records_per_source=cfg.min_records_per_source,
            held_out_only=cfg.held_out_only,
            records=len(examples),
            has_baseline=baseline is not None,
            overall=overall,
            sources=sources,
            drifted=bool(worst),
            drove=worst,
            summary=summary,
            training=training,
        )

    def _observe(self, report: DriftReport) -> None:
        dataset = report.dataset
        result = "drifted" if report.drifted else ("ok" if report.records else "no_records")
        metrics.DRIFT_CHECKS.labels(dataset, result).inc()
        for source in report.sources:
            metrics.DRIFT_SOURCE_METRIC.labels(dataset, source.name, report.metric).set(source.value)
            if source.change is not None:
                metrics.DRIFT_SOURCE_CHANGE.labels(dataset, source.name).set(source.change)
        if report.drifted:
            metrics.DRIFT_RUNS.labels(dataset, report.training.status).inc()
        level = logging.WARNING if report.drifted else logging.INFO
        log.log(
            level,
            "drift check",
            extra={
                "dataset": dataset,
                "run_id": report.run_id,
                "records": report.records,
                "drifted": report.drifted,
                "drove": report.drove,
                "summary": report.summary,
                "training": report.training.status,
                "training_run_id": report.training.run_id,
            },
        )


class DriftScheduler:
    """Every ``drift.poll_s``, checks each dataset with a production model (or those configured) that is
    due; one dataset's failure neither stops the others nor the thread."""

    def __init__(self, checker: DriftChecker) -> None:
        self.checker = checker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drift-scheduler", daemon=True)

    def start(self) -> DriftScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self.checker.config.drift.poll_s):
            self.check_all()

    def datasets(self) -> list[str]:
        configured = self.checker.config.drift.datasets
        return list(configured) if configured else sorted(self.checker.registry.production_all())

    def check_all(self) -> list[DriftReport]:
        reports = []
        for dataset in self.datasets():
            if self._stop.is_set():
                break
            try:
                report = self.checker.check(dataset)
            except Exception:  # one dataset's trouble must not stop the others
                log.exception("drift check failed", extra={"dataset": dataset})
                metrics.DRIFT_CHECKS.labels(dataset, "error").inc()
                continue
            if report is not None:
                reports.append(report)
        return reports
