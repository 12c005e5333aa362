"""Property-based tests of the admin API against its own OpenAPI document (schemathesis).

Every operation gets generated valid and invalid requests, sent in-process with the admin token; the
checks include "no 5xx", declared status codes, content types and headers, and response bodies that
match their schemas. Derandomized, so a failure reproduces on every run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from services.trainer.api import create_app
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import RunState
from services.trainer.service import TrainerService
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

TOKEN = "k3y-Zq8vN2mWx4Lr7Tb1"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


REPORTS = tempfile.TemporaryDirectory(prefix="tuneline-schemathesis-")  # removed at exit


def _app_with_runs() -> tuple[FastAPI, list[str]]:
    """The app, with one run in each interesting state so that listings, models, production models and
    evaluation reports have content to validate; and the ids of those runs."""
    store, registry = InMemoryRunStore(), FakeRegistry()
    config = TrainerConfig.model_validate({"datasets": [{"name": "docs"}, {"name": "tickets"}]})
    service = TrainerService(config, store, registry)
    queued, _ = service.submit("docs", {}, None, "seed")
    cancelled, _ = service.submit("docs", {}, None, "seed")
    service.cancel(cancelled.run_id)
    running, _ = service.submit("docs", {"epochs": 2}, "seed-key", "seed")
    in_s3, _ = service.submit("docs", {}, None, "seed")
    done, _ = service.submit("tickets", {}, None, "seed")
    model = Path(REPORTS.name) / done.run_id
    (model / "evaluation").mkdir(parents=True)
    (model / "evaluation" / "report.md").write_text("# Evaluation\n\n![metrics](metrics.png)\n")
    (model / "evaluation" / "metrics.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for run, uri in [(running, None), (in_s3, "s3://models/docs/run"), (done, str(model))]:
        store.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)
        if uri is not None:
            store.move(run.run_id, {RunState.RUNNING}, RunState.SUCCEEDED, finished_at=T0, model_uri=uri)
    registry.promote("tickets", done.run_id, str(model))
    registry.promote("docs", "docs-earlier", "s3://models/docs/earlier")
    service.promote(in_s3.run_id, "seed", "so that docs can be rolled back")
    registry.put_evaluation(done.run_id, "tickets", "promoted", {"metrics": {"eval_loss": 1.5}, "gates": []})
    run_ids = [queued.run_id, cancelled.run_id, running.run_id, in_s3.run_id, done.run_id]
    return create_app(service, TOKEN), run_ids


APP, RUN_IDS = _app_with_runs()
EVALUATED = RUN_IDS[-1]
CONFIG = schemathesis.Config.from_dict(
    {
        # The token goes through schemathesis' own auth support, so its auth checks know the header.
        "auth": {"openapi": {"AdminToken": {"bearer": TOKEN}}},
        # Generated ids and names never exist; half the time use the seeded ones, so that the 200s of
        # the runs, production models and reports (JSON, Markdown, PNG) are checked against the schema.
        "dictionaries": {
            "run_ids": {"values": RUN_IDS},
            "evaluated": {"values": [EVALUATED]},
            "datasets": {"values": ["docs", "tickets"]},
            "charts": {"values": ["metrics"]},
        },
        "parameters": {
            "path.run_id": {"dictionary": "run_ids", "probability": 0.5},
            "path.dataset": {"dictionary": "datasets", "probability": 0.5},
            "path.name": {"dictionary": "charts", "probability": 0.5},
            "body.dataset": {"dictionary": "datasets", "probability": 0.5},
        },
        "operations": [
            {
                # Which datasets are configured, and which overrides make a valid TrainingConfig, is not
                # in the schema (it is configuration); a schema-valid request may fairly get a 422 here.
                "include-path": "/v1/trainings",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "422"]}
                },
            },
            {
                "include-path-regex": "^/v1/evaluations/",
                "parameters": {
                    "path.run_id": {"dictionary": "evaluated", "probability": 0.5},
                    "path.name": {"dictionary": "charts", "probability": 0.5},
                },
            },
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@schema.parametrize()  # type: ignore[untyped-decorator]  # schemathesis returns a bare Callable
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
