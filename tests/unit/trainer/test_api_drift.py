"""The admin API's side of continuous evaluation: `drift` run requests (idempotent, cooldowns respected)
and the drift report routes (JSON, Markdown, chart), behind the same bearer token as every /v1 route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from libs.registry import DriftCheck
from services.trainer.api import create_app
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import RunState
from services.trainer.service import TrainerService
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

TOKEN = "k3y-Zq8vN2mWx4Lr7Tb1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def service(store: InMemoryRunStore, registry: FakeRegistry) -> TrainerService:
    config = TrainerConfig.model_validate(
        {"datasets": [{"name": "docs", "cooldown_s": 3600}, {"name": "tickets", "cooldown_s": 0}]}
    )
    return TrainerService(config, store, registry)


@pytest.fixture
def client(service: TrainerService) -> Iterator[TestClient]:
    with TestClient(create_app(service, TOKEN)) as client:
        yield client


def drift_run(client: TestClient, dataset: str, key: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/v1/trainings",
        json={"dataset": dataset, "reason": "drift"},
        headers={**AUTH, "Idempotency-Key": key},
    )
    return response.status_code, response.json()


def finish(store: InMemoryRunStore, run_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    store.move(run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=now)
    store.move(run_id, {RunState.RUNNING}, RunState.SUCCEEDED, finished_at=now, model_uri=f"/m/{run_id}")


def test_a_drift_request_starts_one_run_and_a_repeat_replays_it(client: TestClient) -> None:
    status, run = drift_run(client, "tickets", "drift:tickets:r1:0:0")
    assert status == 202 and run["reason"] == "drift"
    again_status, again = drift_run(client, "tickets", "drift:tickets:r1:0:0")
    assert again_status == 200 and again["run_id"] == run["run_id"]
    listed = client.get("/v1/trainings", params={"dataset": "tickets"}, headers=AUTH).json()["runs"]
    assert [r["reason"] for r in listed] == ["drift"]


def test_a_drift_request_waits_for_the_active_run_and_the_cooldown(
    client: TestClient, store: InMemoryRunStore
) -> None:
    status, run = drift_run(client, "docs", "drift:docs:a")
    assert status == 202
    status, body = drift_run(client, "docs", "drift:docs:b")  # another window, the first run still queued
    assert status == 409 and body["error"]["code"] == "cooling_down"  # type: ignore[index]
    finish(store, str(run["run_id"]))
    status, body = drift_run(client, "docs", "drift:docs:b")  # done, but started less than an hour ago
    assert status == 409 and "cooling down until" in body["error"]["message"]  # type: ignore[index]
    # tickets has no cooldown: once its run is done, the next window may ask again
    _, first = drift_run(client, "tickets", "drift:tickets:a")
    finish(store, str(first["run_id"]))
    status, second = drift_run(client, "tickets", "drift:tickets:b")
    assert status == 202 and second["run_id"] != first["run_id"]


def test_manual_requests_ignore_the_cooldown_and_other_reasons_are_refused(client: TestClient) -> None:
    assert drift_run(client, "docs", "k1")[0] == 202
    manual = client.post("/v1/trainings", json={"dataset": "docs"}, headers=AUTH)
    assert manual.status_code == 202 and manual.json()["reason"] == "manual"
    threshold = client.post("/v1/trainings", json={"dataset": "docs", "reason": "threshold"}, headers=AUTH)
    assert threshold.status_code == 422


def test_drift_report_routes(client: TestClient, registry: FakeRegistry, tmp_path: Path) -> None:
    assert client.get("/v1/models/docs/drift", headers=AUTH).json()["error"]["code"] == "drift_not_found"
    assert client.get("/v1/models/docs/drift").status_code == 401
    folder = tmp_path / "run-1" / "drift"
    (folder / "charts").mkdir(parents=True)
    (folder / "drift.md").write_text("# Continuous evaluation: docs\n")
    (folder / "charts" / "drift.png").write_bytes(PNG)
    registry.drifts["docs"] = DriftCheck(
        dataset="docs",
        run_id="run-1",
        checked_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        records_total=1234,
        report={"drifted": True, "drove": ["wiki"]},
        report_dir=str(folder),
        history=[{"at": "2026-12-01T00:00:00+00:00", "sources": {"wiki": 9.0}}],
    )
    body = client.get("/v1/models/docs/drift", headers=AUTH).json()
    assert body["run_id"] == "run-1" and body["report"]["drove"] == ["wiki"] and len(body["history"]) == 1
    markdown = client.get("/v1/models/docs/drift.md", headers=AUTH)
    assert markdown.status_code == 200 and markdown.text.startswith("# Continuous evaluation")
    assert markdown.headers["content-type"].startswith("text/markdown")
    chart = client.get("/v1/models/docs/drift/charts/drift.png", headers=AUTH)
    assert chart.status_code == 200 and chart.content == PNG
    missing = client.get("/v1/models/docs/drift/charts/other.png", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "report_not_found"
    assert client.get("/v1/models/docs/drift.md").status_code == 401
    registry.drifts["docs"] = DriftCheck(
        "docs", "run-1", dt.datetime(2026, 12, 1, tzinfo=dt.UTC), 1, {}, "s3://bucket/run-1/drift", []
    )
    remote = client.get("/v1/models/docs/drift.md", headers=AUTH).json()["error"]
    assert remote["code"] == "report_not_found" and "s3://bucket/run-1/drift/drift.md" in remote["message"]
