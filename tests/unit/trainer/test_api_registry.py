"""The admin API's model-registry routes: production models, manual promotion, rollback, evaluations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from services.trainer.api import create_app
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import RunState
from services.trainer.service import TrainerService
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

TOKEN = "k3y-Zq8vN2mWx4Lr7Tb1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def service(store: InMemoryRunStore, registry: FakeRegistry) -> TrainerService:
    config = TrainerConfig.model_validate({"datasets": [{"name": "docs"}, {"name": "tickets"}]})
    return TrainerService(config, store, registry)


@pytest.fixture
def client(service: TrainerService) -> Iterator[TestClient]:
    with TestClient(create_app(service, TOKEN)) as client:
        yield client


def error_of(response: Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    error: dict[str, str] = body["error"]
    return error


def trained(
    service: TrainerService,
    store: InMemoryRunStore,
    dataset: str = "docs",
    state: RunState = RunState.SUCCEEDED,
    model_uri: str | None = "default",
) -> str:
    """A run of ``dataset`` that ended in ``state`` (with a model under /models unless told otherwise)."""
    run, _ = service.submit(dataset, {}, None, "seed")
    if state is RunState.QUEUED:
        return run.run_id
    store.move(run.run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)
    if state is RunState.RUNNING:
        return run.run_id
    uri = f"/models/{run.run_id}" if model_uri == "default" else model_uri
    store.move(run.run_id, {RunState.RUNNING}, state, finished_at=T0, model_uri=uri)
    return run.run_id


def promote(
    client: TestClient, run_id: str, reason: str = "gate misjudged it", actor: str | None = None
) -> Response:
    headers = dict(AUTH) if actor is None else {**AUTH, "X-Actor": actor}
    response: Response = client.post(f"/v1/models/{run_id}/promote", json={"reason": reason}, headers=headers)
    return response


def rollback(client: TestClient, dataset: str = "docs", actor: str | None = None) -> Response:
    headers = dict(AUTH) if actor is None else {**AUTH, "X-Actor": actor}
    body = {"dataset": dataset, "reason": "answers got worse"}
    response: Response = client.post("/v1/models/rollback", json=body, headers=headers)
    return response


def lose_the_next_race(registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch, winner: str) -> None:
    """The next ``set_production`` finds that ``winner`` was made production since it looked."""
    real_set = registry.set_production

    def someone_first(dataset: str, *args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(registry, "set_production", real_set)
        current = registry.production(dataset)
        assert real_set(dataset, winner, f"/models/{winner}", current.run_id if current else None)
        return real_set(dataset, *args, **kwargs)

    monkeypatch.setattr(registry, "set_production", someone_first)


# --- auth and documentation ---------------------------------------------------------------------------

NEW_ROUTES = [
    ("POST", "/v1/models/docs-1/promote"),
    ("POST", "/v1/models/rollback"),
    ("GET", "/v1/models/docs/production"),
    ("GET", "/v1/evaluations/docs-1"),
    ("GET", "/v1/evaluations/docs-1/report.md"),
    ("GET", "/v1/evaluations/docs-1/charts/metrics.png"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"}])
def test_registry_routes_need_the_token(
    client: TestClient, registry: FakeRegistry, method: str, path: str, headers: dict[str, str]
) -> None:
    registry.promote("docs", "docs-0")
    body = {"dataset": "docs", "reason": "r"}
    response = client.request(method, path, headers={**headers, "X-Actor": "mallory"}, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"
    production = registry.production("docs")
    assert production is not None and len(production.history) == 1  # nothing changed


def test_openapi_documents_the_routes_their_codes_and_the_actor(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    declared = {
        (method.upper(), path): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert declared[("POST", "/v1/models/{run_id}/promote")] >= {"200", "401", "404", "409", "422"}
    assert declared[("POST", "/v1/models/rollback")] >= {"200", "401", "404", "409", "422"}
    assert declared[("GET", "/v1/models/{dataset}/production")] >= {"200", "401", "404", "422"}
    assert declared[("GET", "/v1/evaluations/{run_id}")] >= {"200", "401", "404", "422"}
    report = paths["/v1/evaluations/{run_id}/report.md"]["get"]["responses"]
    assert set(report["200"]["content"]) == {"text/markdown"}
    chart = paths["/v1/evaluations/{run_id}/charts/{name}.png"]["get"]["responses"]
    assert set(chart["200"]["content"]) == {"image/png"}
    for path in ["/v1/models/{run_id}/promote", "/v1/models/rollback"]:
        parameters = paths[path]["post"]["parameters"]
        actor = next(p for p in parameters if p["name"] == "X-Actor")
        assert actor["in"] == "header" and not actor.get("required", False)
        assert "not verified" in actor["description"]


# --- production ---------------------------------------------------------------------------------------


def test_production_shows_the_model_and_its_history(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    first, second = trained(service, store), trained(service, store)
    registry.set_production("docs", first, f"/models/{first}", None, now=T0)
    registry.set_production(
        "docs", second, "s3://m/x", first, now=T0 + dt.timedelta(hours=1), reason="better loss"
    )

    response = client.get("/v1/models/docs/production", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert body["dataset"] == "docs"
    assert (body["run_id"], body["model_uri"], body["previous_run_id"]) == (second, "s3://m/x", first)
    assert (body["promoted_by"], body["action"], body["reason"]) == ("evaluator", "promote", "better loss")
    assert dt.datetime.fromisoformat(body["promoted_at"]) == T0 + dt.timedelta(hours=1)
    assert body["history"] == [
        {
            "run_id": first,
            "model_uri": f"/models/{first}",
            "at": "2026-01-01T00:00:00Z",
            "by": "evaluator",
            "action": "promote",
            "reason": "",
            "previous_run_id": None,
        },
        {
            "run_id": second,
            "model_uri": "s3://m/x",
            "at": "2026-01-01T01:00:00Z",
            "by": "evaluator",
            "action": "promote",
            "reason": "better loss",
            "previous_run_id": first,
        },
    ]


def test_production_of_a_dataset_without_one_is_a_404(client: TestClient) -> None:
    for dataset in ["docs", "never-configured"]:
        response = client.get(f"/v1/models/{dataset}/production", headers=AUTH)
        assert response.status_code == 404
        assert error_of(response)["code"] == "production_not_found"


def test_production_refuses_a_malformed_dataset(client: TestClient) -> None:
    response = client.get("/v1/models/-docs/production", headers=AUTH)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


# --- promote ------------------------------------------------------------------------------------------


def test_promote_records_who_why_and_what_it_replaced(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    current, candidate = trained(service, store), trained(service, store)
    registry.promote("docs", current)

    response = promote(client, candidate, reason="the gate misjudged it; INC-7", actor="Alice Liddell")

    assert response.status_code == 200
    body = response.json()
    assert (body["run_id"], body["model_uri"]) == (candidate, f"/models/{candidate}")
    assert body["previous_run_id"] == current
    assert (body["promoted_by"], body["action"]) == ("Alice Liddell", "manual_promote")
    assert body["reason"] == "the gate misjudged it; INC-7"
    assert body["history"][-1] == {
        "run_id": candidate,
        "model_uri": f"/models/{candidate}",
        "at": body["history"][-1]["at"],
        "by": "Alice Liddell",
        "action": "manual_promote",
        "reason": "the gate misjudged it; INC-7",
        "previous_run_id": current,
    }
    assert client.get("/v1/models/docs/production", headers=AUTH).json() == body
    assert registry.production_all() == {"docs": candidate}
    flags = {m["run_id"]: m["production"] for m in client.get("/v1/models", headers=AUTH).json()["models"]}
    assert flags == {current: False, candidate: True}
    metrics = client.get("/metrics").text
    assert 'tuneline_trainer_production_changes_total{action="manual_promote",dataset="docs"} 1.0' in metrics


def test_promote_without_x_actor_is_by_admin_and_can_be_the_first(
    client: TestClient, service: TrainerService, store: InMemoryRunStore
) -> None:
    run_id = trained(service, store, "tickets")

    body = promote(client, run_id).json()

    assert (body["dataset"], body["run_id"], body["promoted_by"]) == ("tickets", run_id, "admin")
    assert body["previous_run_id"] is None
    assert len(body["history"]) == 1


def test_promote_the_production_model_again_changes_nothing(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    run_id = trained(service, store)
    first = promote(client, run_id, actor="alice").json()

    again = promote(client, run_id, actor="bob")

    assert again.status_code == 200
    assert again.json() == first
    production = registry.production("docs")
    assert production is not None and len(production.history) == 1


def test_promote_an_unknown_run_is_a_404(client: TestClient) -> None:
    response = promote(client, "docs-20260101T000000-abcdef12")
    assert response.status_code == 404
    assert error_of(response)["code"] == "run_not_found"


@pytest.mark.parametrize(
    ("state", "model_uri", "message"),
    [
        (RunState.QUEUED, None, "is queued"),
        (RunState.RUNNING, None, "is running"),
        (RunState.FAILED, None, "is failed"),
        (RunState.SUCCEEDED, None, "left no model"),
    ],
)
def test_promote_a_run_without_a_model_is_a_409(
    client: TestClient,
    service: TrainerService,
    store: InMemoryRunStore,
    registry: FakeRegistry,
    state: RunState,
    model_uri: str | None,
    message: str,
) -> None:
    run_id = trained(service, store, state=state, model_uri=model_uri)

    response = promote(client, run_id)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "not_promotable"
    assert message in error["message"]
    assert registry.production_all() == {}


def test_promote_losing_a_race_is_a_409_and_changes_nothing(
    client: TestClient,
    service: TrainerService,
    store: InMemoryRunStore,
    registry: FakeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = trained(service, store), trained(service, store)
    lose_the_next_race(registry, monkeypatch, theirs)

    response = promote(client, ours)

    assert response.status_code == 409
    assert error_of(response)["code"] == "production_changed"
    assert registry.production_all() == {"docs": theirs}
    assert "production_changes_total{" not in client.get("/metrics").text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "reason: Field required"),
        ({"reason": ""}, "reason: String should have at least 1 character"),
        ({"reason": " \t\n"}, "reason: String should match pattern"),
        ({"reason": "x" * 1001}, "reason: String should have at most 1000 characters"),
        ({"reason": 7}, "reason: Input should be a valid string"),
        ({"reason": "ok", "force": True}, "force: Extra inputs are not permitted"),
    ],
)
def test_promote_needs_a_reason(
    client: TestClient,
    service: TrainerService,
    store: InMemoryRunStore,
    registry: FakeRegistry,
    body: dict[str, Any],
    message: str,
) -> None:
    run_id = trained(service, store)

    response = client.post(f"/v1/models/{run_id}/promote", json=body, headers=AUTH)

    assert response.status_code == 422
    assert message in error_of(response)["message"]
    assert registry.production_all() == {}


def test_a_reason_of_1000_characters_is_fine(
    client: TestClient, service: TrainerService, store: InMemoryRunStore
) -> None:
    assert promote(client, trained(service, store), reason="x" * 1000).status_code == 200


@pytest.mark.parametrize("actor", ["", "x" * 129, " alice", "alice ", "al\tice", "naïve"], ids=repr)
def test_a_malformed_x_actor_is_refused(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry, actor: str
) -> None:
    run_id = trained(service, store)
    headers = {**AUTH, "X-Actor": actor.encode()}  # raw bytes on the wire

    response = client.post(f"/v1/models/{run_id}/promote", json={"reason": "r"}, headers=headers)

    assert response.status_code == 422
    assert "X-Actor" in error_of(response)["message"]
    assert registry.production_all() == {}


def test_an_x_actor_of_128_visible_characters_is_fine(
    client: TestClient, service: TrainerService, store: InMemoryRunStore
) -> None:
    actor = "~" * 128
    assert promote(client, trained(service, store), actor=actor).json()["promoted_by"] == actor


# --- rollback -----------------------------------------------------------------------------------------


def test_rollback_restores_the_previous_model(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    old, new = trained(service, store), trained(service, store)
    registry.promote("docs", old)
    promote(client, new, actor="alice")

    response = rollback(client, actor="bob")

    assert response.status_code == 200
    body = response.json()
    assert (body["run_id"], body["model_uri"], body["previous_run_id"]) == (old, f"/models/{old}", new)
    assert (body["promoted_by"], body["action"], body["reason"]) == ("bob", "rollback", "answers got worse")
    assert [(e["run_id"], e["action"], e["by"]) for e in body["history"]] == [
        (old, "promote", "evaluator"),
        (new, "manual_promote", "alice"),
        (old, "rollback", "bob"),
    ]
    assert registry.production_all() == {"docs": old}
    assert 'production_changes_total{action="rollback",dataset="docs"} 1.0' in client.get("/metrics").text

    again = rollback(client).json()  # a second rollback swaps the two back
    assert (again["run_id"], again["previous_run_id"], again["promoted_by"]) == (new, old, "admin")


def test_rollback_of_a_dataset_that_is_not_configured_is_a_404(
    client: TestClient, registry: FakeRegistry
) -> None:
    registry.promote("payroll", "payroll-1")
    registry.promote("payroll", "payroll-2")

    response = rollback(client, "payroll")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "dataset_not_found",
        "message": "dataset 'payroll' is not configured for training",
    }
    assert registry.production_all() == {"payroll": "payroll-2"}


def test_rollback_with_nothing_earlier_is_a_409(client: TestClient, registry: FakeRegistry) -> None:
    response = rollback(client)  # no production model at all
    assert response.status_code == 409
    assert error_of(response)["code"] == "nothing_to_roll_back"

    registry.promote("docs", "docs-1")  # only one
    response = rollback(client)
    assert response.status_code == 409
    assert error_of(response)["code"] == "nothing_to_roll_back"
    assert registry.production_all() == {"docs": "docs-1"}


def test_rollback_losing_a_race_is_a_409(
    client: TestClient, registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.promote("docs", "docs-1")
    registry.promote("docs", "docs-2")
    lose_the_next_race(registry, monkeypatch, "docs-3")

    response = rollback(client)

    assert response.status_code == 409
    assert error_of(response)["code"] == "production_changed"
    assert registry.production_all() == {"docs": "docs-3"}  # not undone by mistake


@pytest.mark.parametrize(
    "body",
    [
        {"dataset": "docs"},
        {"reason": "r"},
        {"dataset": "../docs", "reason": "r"},
        {"dataset": "docs", "reason": ""},
    ],
)
def test_rollback_refuses_invalid_bodies(
    client: TestClient, registry: FakeRegistry, body: dict[str, Any]
) -> None:
    registry.promote("docs", "docs-1")
    registry.promote("docs", "docs-2")

    response = client.post("/v1/models/rollback", json=body, headers=AUTH)

    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"
    assert registry.production_all() == {"docs": "docs-2"}


# --- evaluations --------------------------------------------------------------------------------------


def test_evaluation_returns_the_stored_report(client: TestClient, registry: FakeRegistry) -> None:
    report = {"metrics": {"eval_loss": 1.25}, "gates": [{"name": "loss", "passed": True}]}
    registry.put_evaluation("docs-1", "docs", "promoted", report)

    response = client.get("/v1/evaluations/docs-1", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ["run_id", "dataset", "decision", "report"]} == {
        "run_id": "docs-1",
        "dataset": "docs",
        "decision": "promoted",
        "report": report,
    }
    assert dt.datetime.fromisoformat(body["evaluated_at"]).tzinfo is not None


def test_evaluation_of_an_unevaluated_run_is_a_404(client: TestClient) -> None:
    response = client.get("/v1/evaluations/docs-1", headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["code"] == "evaluation_not_found"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A local model folder with an evaluation, and secrets next to it and above it."""
    folder = tmp_path / "models" / "docs-run"
    (folder / "evaluation" / "charts").mkdir(parents=True)
    (folder / "evaluation" / "evaluation.md").write_text("# Evaluation\n\nDecision: **promoted** ✓\n")
    (folder / "evaluation" / "charts" / "metrics.png").write_bytes(PNG)
    (folder / "secret.png").write_bytes(b"model weights")
    (tmp_path / "secret.png").write_bytes(b"the admin token")
    (tmp_path / "outside.png").write_bytes(b"outside")
    (folder / "evaluation" / "charts" / "linked.png").symlink_to(tmp_path / "outside.png")
    return folder


def test_report_markdown_and_charts_are_served_from_the_model_folder(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, model_dir: Path
) -> None:
    run_id = trained(service, store, model_uri=str(model_dir))

    markdown = client.get(f"/v1/evaluations/{run_id}/report.md", headers=AUTH)
    chart = client.get(f"/v1/evaluations/{run_id}/charts/metrics.png", headers=AUTH)

    assert markdown.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.text == "# Evaluation\n\nDecision: **promoted** ✓\n"
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/png"
    assert chart.content == PNG


def test_a_file_uri_works_too(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, model_dir: Path
) -> None:
    run_id = trained(service, store, model_uri=model_dir.as_uri())
    assert client.get(f"/v1/evaluations/{run_id}/charts/metrics.png", headers=AUTH).content == PNG


def test_missing_report_files_are_404s(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, tmp_path: Path
) -> None:
    run_id = trained(service, store, model_uri=str(tmp_path))  # never evaluated

    for path in ["report.md", "charts/metrics.png"]:
        response = client.get(f"/v1/evaluations/{run_id}/{path}", headers=AUTH)
        assert response.status_code == 404
        assert error_of(response)["code"] == "report_not_found"


def test_a_report_in_s3_is_a_404_naming_where_it_is(
    client: TestClient, service: TrainerService, store: InMemoryRunStore
) -> None:
    run_id = trained(service, store, model_uri="s3://models/docs/run-1")

    markdown = client.get(f"/v1/evaluations/{run_id}/report.md", headers=AUTH)
    chart = client.get(f"/v1/evaluations/{run_id}/charts/metrics.png", headers=AUTH)

    assert markdown.status_code == chart.status_code == 404
    assert error_of(markdown)["code"] == "report_not_found"
    assert "s3://models/docs/run-1/evaluation/evaluation.md" in error_of(markdown)["message"]
    assert "s3://models/docs/run-1/evaluation/charts/metrics.png" in error_of(chart)["message"]


def test_report_files_of_unknown_runs_or_runs_without_a_model_are_404s(
    client: TestClient, service: TrainerService, store: InMemoryRunStore
) -> None:
    unknown = client.get("/v1/evaluations/docs-404/report.md", headers=AUTH)
    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "run_not_found"

    queued = trained(service, store, state=RunState.QUEUED)
    response = client.get(f"/v1/evaluations/{queued}/charts/metrics.png", headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["code"] == "report_not_found"


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../secret",
        "..%2Fsecret",
        "..%2F..%2Fsecret",
        "%2E%2E%2Fsecret",
        "..%5Csecret",
        "evaluation%2F..%2Fsecret",
        "metrics.png%00",
        "x" * 65,
        "me trics",
        "linked",
    ],
)
def test_chart_names_cannot_leave_the_evaluation_folder(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, model_dir: Path, name: str
) -> None:
    run_id = trained(service, store, model_uri=str(model_dir))

    response = client.get(f"/v1/evaluations/{run_id}/charts/{name}.png", headers=AUTH)

    assert response.status_code in {404, 422}, response.text
    assert response.headers["content-type"] == "application/json"
    assert error_of(response)["code"] in {"not_found", "invalid_request", "report_not_found"}
    for leaked in [b"model weights", b"the admin token", b"outside"]:
        assert leaked not in response.content


def test_a_bad_chart_name_is_named_in_the_422(
    client: TestClient, service: TrainerService, store: InMemoryRunStore, model_dir: Path
) -> None:
    run_id = trained(service, store, model_uri=str(model_dir))
    response = client.get(f"/v1/evaluations/{run_id}/charts/a.b.png", headers=AUTH)
    assert response.status_code == 422
    assert error_of(response)["message"].startswith("path.name: String should match pattern")
