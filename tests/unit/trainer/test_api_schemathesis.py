"""Property-based tests of the admin API against its own OpenAPI document (schemathesis).

Every operation gets generated valid and invalid requests, sent in-process with the admin token; the
checks include "no 5xx", declared status codes, content types and headers, and response bodies that
match their schemas. Derandomized, so a failure reproduces on every run.
"""

from __future__ import annotations

import datetime as dt

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


def _app_with_runs() -> FastAPI:
    store, registry = InMemoryRunStore(), FakeRegistry()
    config = TrainerConfig.model_validate({"datasets": [{"name": "docs"}, {"name": "tickets"}]})
    service = TrainerService(config, store, registry)
    # One run in each interesting state, so that listings and models have content to validate.
    service.submit("docs", {}, None, "seed")  # stays queued
    cancelled, _ = service.submit("docs", {}, None, "seed")
    service.cancel(cancelled.run_id)
    running, _ = service.submit("docs", {"epochs": 2}, "seed-key", "seed")
    done, _ = service.submit("tickets", {}, None, "seed")
    store.move(running.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)
    store.move(done.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)
    store.move(done.run_id, {RunState.RUNNING}, RunState.SUCCEEDED, finished_at=T0, model_uri="/models/t")
    registry.promote("tickets", done.run_id)
    return create_app(service, TOKEN)


CONFIG = schemathesis.Config.from_dict(
    {
        # The token goes through schemathesis' own auth support, so its auth checks know the header.
        "auth": {"openapi": {"AdminToken": {"bearer": TOKEN}}},
        "operations": [
            {
                # Which datasets are configured, and which overrides make a valid TrainingConfig, is not
                # in the schema (it is configuration); a schema-valid request may fairly get a 422 here.
                "include-path": "/v1/trainings",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "422"]}
                },
            }
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app_with_runs(), config=CONFIG)


@schema.parametrize()  # type: ignore[untyped-decorator]  # schemathesis returns a bare Callable
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
