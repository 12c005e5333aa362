"""The evaluator's work: one finished training run -> evaluation -> report, registry, events.

``evaluate_run`` is shared by the Kafka worker and ``tuneline evaluate RUN_ID``; ``EvaluationWorker``
consumes ``training.events`` and commits an event only once its evaluation is recorded and announced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, Message, Producer

from libs.common.deadletter import DeadLetterPublisher, OnDelivery
from libs.model_folder.files import EVALUATION_DIR, EVALUATION_JSON, MANIFEST_FILE, TRAINING_LOG_FILE
from libs.model_folder.manifest import ModelManifest
from libs.model_folder.store import UnsafeModelKey, local_model, model_store
from libs.models import resolve_base_model
from libs.registry import ModelRegistry
from libs.schemas import (
    Decision,
    EvaluationCompleted,
    ModelPromoted,
    PromotionAction,
    RunStatus,
    SchemaError,
    TrainingCompleted,
    decode_training_event,
)
from libs.storage.runs import RunSummary
from services.evaluator import metrics
from services.evaluator.adapters.canaries import CanaryStore
from services.evaluator.adapters.evaluate import ModelRef, evaluate_candidate
from services.evaluator.adapters.evaluations import Evaluations, StoredEvaluation
from services.evaluator.adapters.model_eval import Progress
from services.evaluator.adapters.report_files import save_report
from services.evaluator.adapters.retry import NO_RETRY, Retry, RetryStep, TransientFailure
from services.evaluator.adapters.training_data import TrainingRecords
from services.evaluator.core.canary import Canary
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.examples import EvalExample
from services.evaluator.core.report import EvaluationReport, event_metrics, stored_report
from services.evaluator.core.trust import Untrusted, check_event

log = logging.getLogger(__name__)

PROMOTE_ATTEMPTS = 3  # production moved while we evaluated: evaluate again against the new one


@dataclass(frozen=True)
class Outcome:
    report: EvaluationReport
    promoted: bool
    report_uri: str


def read_examples(model_dir: Path, manifest: ModelManifest) -> list[EvalExample]:
    rows = (json.loads(line) for line in (model_dir / manifest.eval_file).read_text().splitlines() if line)
    return [
        EvalExample(
            record_id=r["id"],
            source=r.get("source") or "unknown",
            dataset=r["dataset"],
            text=r.get("text"),
            prompt=r.get("prompt"),
            response=r.get("response"),
        )
        for r in rows
    ]


def _parse_report(stored: StoredEvaluation | None) -> EvaluationReport | None:
    """The report an earlier attempt stored, or None (none, or in a form this version cannot read:
    then the run is evaluated again)."""
    if stored is None:
        return None
    try:
        return EvaluationReport.model_validate(stored.report)
    except ValueError:
        log.warning("stored report unreadable; evaluating again", extra={"run_id": stored.run_id})
        return None


def loss_curve(model_dir: Path) -> list[tuple[int, float]]:
    try:
        history = json.loads((model_dir / TRAINING_LOG_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [(int(h["step"]), float(h["loss"])) for h in history if "loss" in h and "step" in h]


def evaluate_run(
    run_id: str,
    dataset: str,
    model_uri: str,
    registry: ModelRegistry,
    config: EvaluatorConfig,
    work_dir: Path,
    canaries: list[Canary],
    progress: Progress | None = None,
    promote: bool = True,
    training: TrainingRecords | None = None,
    stored: EvaluationReport | None = None,
    retry: RetryStep = NO_RETRY,
) -> Outcome:
    """Evaluate a run's model against its dataset's production model (or its base model when there is
    none), save the report beside the model, record it, and promote when the gates pass. ``training``
    reads the run's train records for the reproduced-PII check (without it: the eval split only).

    ``stored``: the report an earlier attempt recorded; it is used as it is (no evaluation) unless the
    production model changed since it was made. ``retry`` wraps each S3/DynamoDB step (all idempotent).
    """
    report_uri = f"{model_uri.rstrip('/')}/{EVALUATION_DIR}/{EVALUATION_JSON}"
    for _attempt in range(PROMOTE_ATTEMPTS):
        if stored is not None:
            report, stored = stored, None
        else:
            report = _evaluate_and_store(
                run_id, dataset, model_uri, registry, config, work_dir, canaries, progress, training, retry
            )
        if report.decision is not Decision.PROMOTED or not promote:
            return Outcome(report, False, report_uri)
        promoted = retry("promote", partial(promotion_step, registry, report, run_id, dataset, model_uri))
        if promoted is not None:
            return Outcome(report, promoted, report_uri)
        log.warning("production changed since the evaluation; evaluating again", extra={"run_id": run_id})
    raise RuntimeError(f"production of {dataset!r} kept changing during {PROMOTE_ATTEMPTS} evaluations")


def _evaluate_and_store(
    run_id: str,
    dataset: str,
    model_uri: str,
    registry: ModelRegistry,
    config: EvaluatorConfig,
    work_dir: Path,
    canaries: list[Canary],
    progress: Progress | None,
    training: TrainingRecords | None,
    retry: RetryStep,
) -> EvaluationReport:
    """One evaluation against the current production (or base) model; the report is saved beside the
    model and recorded in the registry (the first step)."""
    candidate_dir = retry("download model", lambda: local_model(model_uri, work_dir))
    manifest = ModelManifest.model_validate_json((candidate_dir / MANIFEST_FILE).read_text())
    examples = read_examples(candidate_dir, manifest)
    scan = config.pii_scan
    training_texts: list[str] = []
    if training is not None and scan.enabled and scan.training_records:
        training_texts = retry("read training records", lambda: training.texts(candidate_dir, manifest))
    production = retry("read production", lambda: registry.production(dataset))
    if production is not None and production.run_id != run_id:
        uri = production.model_uri
        folder = retry("download model", lambda: local_model(uri, work_dir))
        reference = ModelRef(folder, uri, f"production ({production.run_id})")
    elif manifest.base_model_dir is not None:
        base = candidate_dir / manifest.base_model_dir
        reference = ModelRef(base, str(base), f"base ({manifest.base_model})")
    else:  # a hub id, a folder, or the embedded default's alias (its cached folder)
        base_path = resolve_base_model(manifest.base_model)
        reference = ModelRef(Path(base_path), manifest.base_model, f"base ({manifest.base_model})")
    report = evaluate_candidate(
        run_id=run_id,
        dataset=dataset,
        candidate=ModelRef(candidate_dir, model_uri, f"candidate ({run_id})"),
        production=reference,
        examples=examples,
        config=config,
        canaries=canaries,
        progress=progress,
        training_texts=training_texts,
    )
    report = save_report(report, candidate_dir / EVALUATION_DIR, loss_curve(candidate_dir))
    if model_uri.startswith("s3://"):  # the report joins the model it describes
        retry(
            "upload report",
            lambda: model_store(model_uri).publish(EVALUATION_DIR, candidate_dir / EVALUATION_DIR),
        )
    retry(
        "store report",
        lambda: registry.put_evaluation(run_id, dataset, report.decision.value, stored_report(report)),
    )
    return report


def promotion_step(
    registry: ModelRegistry, report: EvaluationReport, run_id: str, dataset: str, model_uri: str
) -> bool | None:
    """Make the run production, once: True when it is production now (moved here, or by an earlier
    attempt); False when it was production once and has been replaced since (a replay never undoes a
    rollback); None when production is no longer the model the report compared with (evaluate again)."""
    production = registry.production(dataset)
    if production is not None and production.run_id == run_id:
        return True
    if production is not None and any(entry.get("run_id") == run_id for entry in production.history):
        return False
    # The report's reference was the production model then, or the base model when there was none.
    if production is not None and production.model_uri != report.production.uri:
        return None
    expected = production.run_id if production is not None else None
    if registry.set_production(
        dataset,
        run_id,
        model_uri,
        expected,
        actor="evaluator",
        action=PromotionAction.PROMOTE.value,
        reason=report.summary,
    ):
        return True
    return None


class NotDelivered(RuntimeError):
    """The broker did not acknowledge an event or a dead letter."""


class RunReader(Protocol):
    def __call__(self, run_id: str) -> RunSummary | None: ...


class EvaluationWorker:
    """Consumes ``training.events``; evaluates every succeeded ``TrainingCompleted`` that the runs table
    backs (``core.trust``), resuming what an earlier attempt left undone."""

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        registry: ModelRegistry,
        canaries: CanaryStore | None,
        config: EvaluatorConfig,
        work_dir: Path,
        events_topic: str,
        dlq_topic: str,
        training: TrainingRecords | None = None,
        model_lock: AbstractContextManager[object] | None = None,
        *,
        runs: RunReader,
        evaluations: Evaluations,
        retry: RetryStep | None = None,
    ) -> None:
        self.consumer, self.producer, self.registry, self.canaries = consumer, producer, registry, canaries
        self.runs, self.evaluations = runs, evaluations
        self.retry: RetryStep = retry if retry is not None else Retry()
        # Shared with the continuous evaluation's thread: one model run at a time (both seed torch).
        self.model_lock = model_lock if model_lock is not None else nullcontext()
        self.config, self.work_dir, self.training = config, work_dir, training
        self.events_topic, self.dlq_topic = events_topic, dlq_topic
        self.dead_letters = DeadLetterPublisher(producer, dlq_topic, "evaluator")
        self.stopping = threading.Event()
        self.healthy = True

    def run(self) -> None:
        self.consumer.subscribe([self.events_topic])
        try:
            while not self.stopping.is_set():
                msg = self.consumer.poll(1.0)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("consumer error", extra={"error": str(error)})
                    continue
                self.handle(msg)
                self.consumer.commit(message=msg, asynchronous=False)
        finally:
            self.consumer.close()

    def handle(self, msg: Message) -> None:
        try:
            event = decode_training_event(msg.value() or b"")
        except SchemaError as exc:
            self._dead_letter(msg, "unreadable_event", str(exc))
            return
        if not isinstance(event, TrainingCompleted) or event.status is not RunStatus.SUCCEEDED:
            return  # other events (ours included) and runs without a model
        if event.model_uri is None:
            self._dead_letter(msg, "missing_model_uri", "succeeded TrainingCompleted without model_uri")
            return
        try:
            untrusted = self._process(event)
        except NotDelivered:
            raise  # the broker did not take our events: the offset stays, the event comes again
        except TransientFailure as exc:  # retried already: the dead letter can be replayed later
            log.error("evaluation step kept failing", extra={"run_id": event.run_id, "error": str(exc)})
            self._dead_letter(msg, "transient_error", str(exc))
        except UnsafeModelKey as exc:
            metrics.REJECTED_EVENTS.labels("unsafe_model_key").inc()
            self._dead_letter(msg, "unsafe_model_key", str(exc))
        except Exception as exc:  # a model that cannot be evaluated is reported, never retried forever
            log.exception("evaluation failed", extra={"run_id": event.run_id})
            self._dead_letter(msg, "evaluation_failed", f"{type(exc).__name__}: {exc}")
        else:
            if untrusted is not None:
                metrics.REJECTED_EVENTS.labels(untrusted.reason).inc()
                self._dead_letter(msg, untrusted.reason, untrusted.detail)

    def _process(self, event: TrainingCompleted) -> Untrusted | None:
        """Evaluate, promote and announce what is not done yet; the reason when the runs table does not
        back ``event`` (nothing done then)."""
        run = self.retry("read run", lambda: self.runs(event.run_id))
        untrusted = check_event(event, run)
        if untrusted is not None:
            return untrusted
        assert run is not None and run.model_uri is not None  # noqa: S101 - check_event made sure
        model_uri, dataset = run.model_uri, run.dataset  # the record's, never the event's
        stored = self.retry("read evaluation", lambda: self.evaluations.get(event.run_id))
        if stored is not None and stored.announced_at is not None:
            metrics.RESUMED.labels("nothing").inc()
            log.info("already evaluated and announced; replay skipped", extra={"run_id": run.run_id})
            return None
        earlier = _parse_report(stored)
        if earlier is not None:
            metrics.RESUMED.labels("promotion" if earlier.decision is Decision.PROMOTED else "events").inc()
            log.info("resuming an evaluation already stored", extra={"run_id": run.run_id})
        store = self.canaries
        canaries = self.retry("read canaries", store.all) if store is not None else []
        with self.model_lock, metrics.EVALUATION_SECONDS.time():
            outcome = evaluate_run(
                run.run_id,
                dataset,
                model_uri,
                self.registry,
                self.config,
                self.work_dir,
                canaries,
                training=self.training,
                stored=earlier,
                retry=self.retry,
            )
        self._announce(run, outcome)
        current = self.retry("read evaluation", lambda: self.evaluations.get(run.run_id))
        if current is not None:
            evaluated_at = current.evaluated_at
            self.retry("mark announced", lambda: self.evaluations.mark_announced(run.run_id, evaluated_at))
        return None

    def _announce(self, run: RunSummary, outcome: Outcome) -> None:
        """The last step: EvaluationCompleted, and ModelPromoted while the run is production. Sent again
        by a replay that finds them unmarked (a duplicate names the same run and model: harmless)."""
        report, now = outcome.report, dt.datetime.now(dt.UTC)
        model_uri = run.model_uri or ""
        completed = EvaluationCompleted(
            run_id=run.run_id,
            dataset=run.dataset,
            occurred_at=now,
            model_uri=model_uri,
            decision=report.decision,
            metrics=event_metrics(report),
            gates=report.gates,
            report_uri=outcome.report_uri,
        )
        self._send(run.run_id, completed.model_dump_json().encode())
        if outcome.promoted:
            production = self.retry("read production", lambda: self.registry.production(run.dataset))
            promoted = ModelPromoted(
                run_id=run.run_id,
                dataset=run.dataset,
                occurred_at=now,
                model_uri=model_uri,
                previous_run_id=production.previous_run_id if production else None,
                action=PromotionAction.PROMOTE,
                by="evaluator",
                reason=report.summary,
            )
            self._send(run.run_id, promoted.model_dump_json().encode())
        metrics.DECISIONS.labels(run.dataset, report.decision.value).inc()
        log.info(
            "evaluated",
            extra={"run_id": run.run_id, "decision": report.decision.value, "summary": report.summary},
        )

    def _send(self, key: str, value: bytes) -> None:
        self._confirmed(
            self.events_topic,
            lambda on_delivery: self.producer.produce(
                self.events_topic, key=key.encode(), value=value, on_delivery=on_delivery
            ),
        )

    def _dead_letter(self, msg: Message, reason: str, detail: str) -> None:
        """Dead-letter ``msg`` and wait for the broker: its offset is committed next."""
        metrics.DEAD_LETTERS.inc()
        self._confirmed(
            self.dlq_topic,
            lambda on_delivery: self.dead_letters.publish_kafka_message(
                msg, reason, detail, on_delivery=on_delivery
            ),
        )

    def _confirmed(self, topic: str, publish: Callable[[OnDelivery], object]) -> None:
        """Runs ``publish`` with a delivery callback, then waits for the broker; raises ``NotDelivered``
        when the message was refused or not confirmed within 30 s."""
        errors: list[KafkaError] = []
        publish(lambda err, _m: errors.append(err) if err else None)
        if self.producer.flush(30) or errors:
            raise NotDelivered(f"could not publish to {topic}: {errors[:1] or 'timed out'}")


def cleanup(work_dir: Path) -> None:
    """Models fetched from s3:// are cached only while the worker runs."""
    shutil.rmtree(work_dir, ignore_errors=True)
