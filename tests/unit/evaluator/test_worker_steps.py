"""The evaluator worker trusts only the runs table, resumes what an earlier attempt left undone (report
stored -> promotion -> events) and retries transient S3/DynamoDB errors before dead-lettering.

The evaluation itself is replaced by a synthetic report (no model); the registry is the in-memory one with
``libs.registry.ModelRegistry``'s semantics."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import REGISTRY

from libs.schemas import DeadLetter, Decision, RunStatus, TrainingCompleted, decode
from libs.storage.runs import RunSummary
from services.evaluator import worker as worker_module
from services.evaluator.adapters.evaluations import StoredEvaluation
from services.evaluator.adapters.retry import Retry, TransientFailure, is_transient
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.core.report import EvaluationReport, stored_report
from services.evaluator.worker import EvaluationWorker
from tests.unit.evaluator import helpers
from tests.unit.evaluator.test_worker_dead_letters import Event, Producer
from tests.unit.trainer.fakes import FakeRegistry

RUN = "run-1"
MODEL = "/models/run-1"  # what the trainer recorded


def run_record(**changes: Any) -> RunSummary:
    fields: dict[str, Any] = {"run_id": RUN, "dataset": "general", "state": "succeeded",
                              "model_uri": MODEL, "base_model": "tuneline/tiny-llama"}  # fmt: skip
    return RunSummary(**{**fields, **changes})


def event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "run_id": RUN, "dataset": "general", "occurred_at": dt.datetime.now(dt.UTC),
        "status": RunStatus.SUCCEEDED, "base_model": "tuneline/tiny-llama", "model_uri": MODEL,
    }  # fmt: skip
    return Event(TrainingCompleted(**{**fields, **changes}).model_dump_json().encode())


class FakeEvaluations:
    """The evaluation item as ``adapters.evaluations.Evaluations`` reads it, over the fake registry."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry
        self.announced: dict[str, str] = {}

    def get(self, run_id: str) -> StoredEvaluation | None:
        stored = self.registry.evaluation(run_id)
        if stored is None:
            return None
        return StoredEvaluation(run_id, stored["decision"], stored["evaluated_at"], stored["report"],
                                self.announced.get(f"{run_id}@{stored['evaluated_at']}"))  # fmt: skip

    def mark_announced(self, run_id: str, evaluated_at: str) -> bool:
        self.announced[f"{run_id}@{evaluated_at}"] = "now"
        return True


class Setup:
    def __init__(
        self,
        tmp_path: Path,
        runs: dict[str, RunSummary],
        monkeypatch: pytest.MonkeyPatch,
        fake_evaluation: bool = True,
    ) -> None:
        self.registry = FakeRegistry()
        self.evaluations = FakeEvaluations(self.registry)
        self.producer = Producer()
        self.runs = runs
        self.reads = 0
        self.fail_reads = 0  # the next reads of the run raise a throttling error
        self.evaluated: list[str] = []  # model URIs the worker evaluated
        self.decision = Decision.PROMOTED
        self.worker = EvaluationWorker(
            None,  # type: ignore[arg-type]  # handle() never consumes
            self.producer,  # type: ignore[arg-type]
            self.registry,  # type: ignore[arg-type]
            None,
            EvaluatorConfig(),
            tmp_path,
            "training.events",
            "evaluator.dlq",
            runs=self.read_run,
            evaluations=self.evaluations,  # type: ignore[arg-type]
            retry=Retry(attempts=3, sleep=lambda _s: None),
        )
        if fake_evaluation:
            monkeypatch.setattr(worker_module, "_evaluate_and_store", self.evaluate)

    def read_run(self, run_id: str) -> RunSummary | None:
        self.reads += 1
        if self.fail_reads:
            self.fail_reads -= 1
            raise throttled()
        return self.runs.get(run_id)

    def report(self) -> EvaluationReport:
        """A report against the base model (no production yet) or the production model there is."""
        report = helpers.report()
        production = self.registry.production("general")
        reference = report.production.model_copy(
            update={"uri": production.model_uri if production else "/base", "label": "reference"}
        )
        summary = "better" if self.decision is Decision.PROMOTED else "worse"
        return report.model_copy(
            update={"decision": self.decision, "summary": summary, "production": reference}
        )

    def evaluate(
        self, run_id: str, dataset: str, model_uri: str, registry: Any, *_args: Any
    ) -> EvaluationReport:
        self.evaluated.append(model_uri)
        report = self.report()
        registry.put_evaluation(run_id, dataset, report.decision.value, stored_report(report))
        return report

    def sent(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(m["value"]) for m in self.producer.delivered if m["topic"] == topic]

    def types(self) -> list[str]:
        return [e["type"] for e in self.sent("training.events")]

    def letters(self) -> list[DeadLetter]:
        return [
            decode(DeadLetter, m["value"]) for m in self.producer.delivered if m["topic"] == "evaluator.dlq"
        ]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(tmp_path, {RUN: run_record()}, monkeypatch)


def client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "..."},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Op")


def throttled() -> ClientError:
    return client_error("ThrottlingException", 400)


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("tuneline_evaluator_rejected_events_total", {"reason": reason}) or 0.0


# ---- trust: the runs table, never the event ------------------------------------------------------


@pytest.mark.parametrize(
    ("runs", "changes", "reason", "detail"),
    [
        ({}, {}, "unknown_run", "no run 'run-1' in the runs table"),
        ({RUN: run_record(state="failed", model_uri=None)}, {}, "run_not_succeeded", "'failed'"),
        ({RUN: run_record()}, {"model_uri": "s3://attacker/model"}, "event_disagrees_with_run",
         "model_uri: event 's3://attacker/model', recorded '/models/run-1'"),
        ({RUN: run_record()}, {"model_uri": "/etc"}, "event_disagrees_with_run", "model_uri"),
        ({RUN: run_record()}, {"dataset": "payroll"}, "event_disagrees_with_run", "dataset: event 'payroll'"),
        ({RUN: run_record()}, {"base_model": "other"}, "event_disagrees_with_run", "base_model"),
    ],
)  # fmt: skip
def test_an_event_the_runs_table_does_not_back_is_dead_lettered_and_never_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: dict[str, RunSummary], changes: dict[str, Any],
    reason: str, detail: str,
) -> None:  # fmt: skip
    setup = Setup(tmp_path, runs, monkeypatch)
    before = rejected(reason)

    setup.worker.handle(event(**changes))  # type: ignore[arg-type]

    [letter] = setup.letters()
    assert letter.reason == reason and detail in letter.detail, letter.detail
    assert letter.value is not None and b"run-1" in letter.value.raw()  # replayable once understood
    assert setup.evaluated == [] and setup.types() == []
    assert setup.registry.production("general") is None and setup.registry.evaluation(RUN) is None
    assert rejected(reason) == before + 1


def test_a_backed_event_is_evaluated_on_the_recorded_model_promoted_and_announced(setup: Setup) -> None:
    setup.worker.handle(event())  # type: ignore[arg-type]

    assert setup.evaluated == [MODEL]
    production = setup.registry.production("general")
    assert production is not None and (production.run_id, production.model_uri) == (RUN, MODEL)
    assert setup.types() == ["evaluation.completed", "model.promoted"]
    assert setup.letters() == []
    stored = setup.evaluations.get(RUN)
    assert stored is not None and stored.announced_at is not None


# ---- resumable steps ------------------------------------------------------------------------------


def store_report(setup: Setup) -> None:
    """What an earlier attempt left: the report stored, nothing after it."""
    report = setup.report()
    setup.registry.put_evaluation(RUN, "general", report.decision.value, stored_report(report))


def test_a_replay_after_the_report_was_stored_completes_the_promotion_and_its_events(setup: Setup) -> None:
    store_report(setup)

    setup.worker.handle(event())  # type: ignore[arg-type]

    assert setup.evaluated == []  # the stored report is used as it is
    production = setup.registry.production("general")
    assert production is not None and production.run_id == RUN and len(production.history) == 1
    assert setup.types() == ["evaluation.completed", "model.promoted"]
    stored = setup.evaluations.get(RUN)
    assert stored is not None and stored.announced_at is not None


def test_a_replay_after_the_promotion_sends_only_the_missing_events(setup: Setup) -> None:
    store_report(setup)
    assert setup.registry.set_production("general", RUN, MODEL, None)

    setup.worker.handle(event())  # type: ignore[arg-type]

    production = setup.registry.production("general")
    assert production is not None and len(production.history) == 1  # not promoted twice
    assert setup.types() == ["evaluation.completed", "model.promoted"]
    assert setup.evaluated == []


def test_a_replay_after_everything_was_announced_does_nothing(setup: Setup) -> None:
    setup.worker.handle(event())  # type: ignore[arg-type]
    sent = len(setup.producer.delivered)

    setup.worker.handle(event())  # type: ignore[arg-type]  # the sweeper's duplicate

    assert len(setup.producer.delivered) == sent and setup.evaluated == [MODEL]


def test_a_replay_never_undoes_a_rollback(setup: Setup) -> None:
    setup.registry.promote("general", "run-0", "/models/run-0")
    store_report(setup)  # evaluated against run-0
    assert setup.registry.set_production("general", RUN, MODEL, "run-0")
    setup.registry.rollback("general", "operator", "bad answers")

    setup.worker.handle(event())  # type: ignore[arg-type]

    production = setup.registry.production("general")
    assert production is not None and production.run_id == "run-0"
    assert setup.types() == ["evaluation.completed"]  # no ModelPromoted: servers keep run-0


def test_a_replay_after_production_moved_evaluates_again_against_the_new_one(setup: Setup) -> None:
    store_report(setup)  # against the base model
    setup.registry.promote("general", "run-9", "/models/run-9")  # promoted meanwhile

    setup.worker.handle(event())  # type: ignore[arg-type]

    assert setup.evaluated == [MODEL]
    production = setup.registry.production("general")
    assert production is not None and production.run_id == RUN and production.previous_run_id == "run-9"


def test_a_rejected_run_replayed_sends_its_evaluation_and_promotes_nothing(setup: Setup) -> None:
    setup.decision = Decision.REJECTED
    store_report(setup)

    setup.worker.handle(event())  # type: ignore[arg-type]

    assert setup.types() == ["evaluation.completed"] and setup.evaluated == []
    assert setup.registry.production("general") is None


# ---- transient errors -----------------------------------------------------------------------------


def test_transient_errors_are_retried_before_anything_is_dead_lettered(setup: Setup) -> None:
    setup.fail_reads = 2  # throttled twice, then the table answers

    setup.worker.handle(event())  # type: ignore[arg-type]

    assert setup.reads == 3 and setup.letters() == []
    assert setup.types() == ["evaluation.completed", "model.promoted"]


def test_a_step_that_keeps_failing_transiently_is_dead_lettered_with_its_reason(setup: Setup) -> None:
    setup.fail_reads = 10

    setup.worker.handle(event())  # type: ignore[arg-type]

    [letter] = setup.letters()
    assert letter.reason == "transient_error" and "read run failed 3 times" in letter.detail
    assert setup.evaluated == [] and setup.reads == 3


def test_transient_and_permanent_errors_are_told_apart() -> None:
    assert is_transient(throttled())
    assert is_transient(client_error("SlowDown", 503)) and is_transient(client_error("Whatever", 500))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert not is_transient(client_error("AccessDenied", 403))
    assert not is_transient(client_error("NoSuchKey", 404))
    assert not is_transient(client_error("ConditionalCheckFailedException", 400))
    assert not is_transient(ValueError("a broken manifest"))
    try:
        try:
            raise throttled()
        except ClientError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_retry_gives_up_after_its_attempts_and_raises_permanent_errors_at_once() -> None:
    calls: list[int] = []

    def always_throttled() -> None:
        calls.append(1)
        raise throttled()

    with pytest.raises(TransientFailure, match="store report failed 4 times"):
        Retry(attempts=4, sleep=lambda _s: None)("store report", always_throttled)
    assert len(calls) == 4

    def denied() -> None:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    calls.clear()
    with pytest.raises(ClientError):
        Retry(attempts=4, sleep=lambda _s: None)("store report", denied)
    assert len(calls) == 1


def test_a_recorded_s3_model_whose_key_escapes_the_work_folder_is_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from libs.common import aws
    from libs.model_folder.files import MANIFEST_FILE
    from tests.unit.model_folder.test_store import FakeS3

    uri = "s3://bucket/m/run-1"
    s3 = FakeS3({"m/run-1/../../../escaped": b"x", f"m/run-1/{MANIFEST_FILE}": b"{}"})
    monkeypatch.setattr(aws, "s3_client", lambda *_a, **_k: s3)
    setup = Setup(tmp_path / "work", {RUN: run_record(model_uri=uri)}, monkeypatch, fake_evaluation=False)
    before = rejected("unsafe_model_key")

    setup.worker.handle(event(model_uri=uri))  # type: ignore[arg-type]

    [letter] = setup.letters()
    assert letter.reason == "unsafe_model_key" and "would be written outside" in letter.detail
    assert s3.downloaded == [] and not (tmp_path / "escaped").exists()
    assert setup.registry.evaluation(RUN) is None and setup.types() == []
    assert rejected("unsafe_model_key") == before + 1
