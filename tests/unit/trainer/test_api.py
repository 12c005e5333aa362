from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from services.trainer.api import create_app
from services.trainer.api.schemas import ProgressOut, RunOut
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import Progress, RunRecord, RunState
from services.trainer.service import TrainerService
from services.trainer.settings import TrainerSettings
from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore

TOKEN = "k3y-Zq8vN2mWx4Lr7Tb1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_service(store: InMemoryRunStore, registry: FakeRegistry) -> TrainerService:
    config = TrainerConfig.model_validate({"datasets": [{"name": "docs"}, {"name": "tickets"}]})
    return TrainerService(config, store, registry)


@pytest.fixture
def ready() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@pytest.fixture
def client(store: InMemoryRunStore, registry: FakeRegistry, ready: threading.Event) -> Iterator[TestClient]:
    app = create_app(make_service(store, registry), TOKEN, readiness=ready.is_set)
    with TestClient(app) as client:
        yield client


def error_of(response: Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    error: dict[str, str] = body["error"]
    return error


def submit(client: TestClient, body: dict[str, Any] | None = None, key: str | None = None) -> Response:
    headers = dict(AUTH)
    if key is not None:
        headers["Idempotency-Key"] = key
    response: Response = client.post("/v1/trainings", json=body or {"dataset": "docs"}, headers=headers)
    return response


def finish(store: InMemoryRunStore, run_id: str, state: RunState, **fields: Any) -> None:
    store.move(run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)
    store.move(run_id, {RunState.RUNNING}, state, finished_at=T0, **fields)


# --- auth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN} extra"},
        {"Authorization": "Bearer"},
        {"Authorization": TOKEN},
    ],
    ids=["missing", "wrong", "wrong-scheme", "trailing", "empty", "no-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/trainings"),
        ("GET", "/v1/trainings"),
        ("GET", "/v1/trainings/docs-1"),
        ("POST", "/v1/trainings/docs-1/cancel"),
        ("GET", "/v1/models"),
    ],
)
def test_v1_needs_the_token(
    client: TestClient, store: InMemoryRunStore, headers: dict[str, str], method: str, path: str
) -> None:
    response = client.request(method, path, headers=headers, json={"dataset": "docs"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"
    assert store.list() == []


def test_the_right_token_passes_whatever_the_scheme_case(client: TestClient) -> None:
    assert client.get("/v1/trainings", headers=AUTH).status_code == 200
    assert client.get("/v1/trainings", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_ops_and_the_spec_need_no_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_docs_pages_by_default_they_would_load_javascript_from_a_cdn(
    client: TestClient, path: str
) -> None:
    assert client.get(path).status_code == 404


def test_docs_pages_when_enabled_need_no_token(store: InMemoryRunStore, registry: FakeRegistry) -> None:
    with TestClient(create_app(make_service(store, registry), TOKEN, docs=True)) as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/redoc").status_code == 200


def test_the_docs_setting_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TrainerSettings().api_docs is False
    monkeypatch.setenv("TUNELINE_TRAINER_API_DOCS", "true")
    assert TrainerSettings().api_docs is True


def test_openapi_declares_bearer_auth(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["AdminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <TUNELINE_ADMIN_TOKEN>`",
    }
    assert spec["paths"]["/v1/models"]["get"]["security"] == [{"AdminToken": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_insecure_dev_mode_needs_no_token_and_warns(
    store: InMemoryRunStore, registry: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="services.trainer.api.app"):
        app = create_app(make_service(store, registry), None)
    assert [r.message for r in caplog.records] == [
        "admin API running WITHOUT authentication (insecure dev mode)"
    ]

    client = TestClient(app)
    response = client.post("/v1/trainings", json={"dataset": "docs"})
    assert response.status_code == 202
    assert response.json()["requested_by"] == "anonymous"
    assert "security" not in client.get("/openapi.json").json()["paths"]["/v1/models"]["get"]


# --- submit and idempotency ---------------------------------------------------------------------------


def test_submit_queues_a_run(client: TestClient, store: InMemoryRunStore) -> None:
    response = submit(client, {"dataset": "docs", "overrides": {"learning_rate": 0.0005}})

    assert response.status_code == 202
    run = response.json()
    assert response.headers["Location"] == f"/v1/trainings/{run['run_id']}"
    assert run["state"] == "queued"
    assert run["reason"] == "manual"
    assert run["requested_by"] == "admin"
    assert run["overrides"] == {"learning_rate": 0.0005}
    assert run["config"]["learning_rate"] == 0.0005
    assert [r.run_id for r in store.list()] == [run["run_id"]]
    assert client.get(response.headers["Location"], headers=AUTH).json() == run


def test_the_same_key_twice_returns_the_first_run(client: TestClient, store: InMemoryRunStore) -> None:
    first = submit(client, key="order-42")
    again = submit(client, key="order-42")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json() == first.json()
    assert len(store.list()) == 1


def test_different_keys_start_two_runs(client: TestClient, store: InMemoryRunStore) -> None:
    assert submit(client, key="a").status_code == 202
    assert submit(client, key="b").status_code == 202
    assert submit(client).status_code == 202  # no key: always a new run
    assert len(store.list()) == 3


def test_a_key_reused_with_another_body_is_refused(client: TestClient, store: InMemoryRunStore) -> None:
    submit(client, {"dataset": "docs"}, key="k")
    response = submit(client, {"dataset": "tickets"}, key="k")

    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert len(store.list()) == 1


def test_concurrent_submits_with_one_key_start_one_run(client: TestClient, store: InMemoryRunStore) -> None:
    barrier = threading.Barrier(12)

    def post(_: int) -> Response:
        barrier.wait()
        return submit(client, key="retry-storm")

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(post, range(12)))

    assert sorted(r.status_code for r in responses) == [200] * 11 + [202]
    assert len({r.json()["run_id"] for r in responses}) == 1
    assert len(store.list()) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 257, "naïve"])
def test_a_malformed_idempotency_key_is_refused(
    client: TestClient, store: InMemoryRunStore, key: str
) -> None:
    response = client.post(
        "/v1/trainings",
        json={"dataset": "docs"},
        headers={**AUTH, "Idempotency-Key": key.encode()},  # raw UTF-8 bytes on the wire
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "Idempotency-Key" in error["message"]
    assert store.list() == []


def test_a_key_of_256_visible_characters_is_fine(client: TestClient) -> None:
    assert submit(client, key="~" * 256).status_code == 202


# --- validation ---------------------------------------------------------------------------------------


def test_bad_overrides_name_the_field(client: TestClient, store: InMemoryRunStore) -> None:
    response = submit(client, {"dataset": "docs", "overrides": {"learning_rate": "fast"}})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_overrides"
    assert error["message"].startswith("overrides: learning_rate: Input should be a valid number")
    assert store.list() == []


def test_a_base_model_off_the_allow_list_is_a_422_and_starts_nothing(
    client: TestClient, store: InMemoryRunStore
) -> None:
    response = submit(client, {"dataset": "docs", "overrides": {"base_model": "/root/.ssh"}})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_overrides"
    assert error["message"].startswith("overrides: base_model '/root/.ssh' is not allowed")
    assert store.list() == []


def test_unknown_override_fields_are_refused(client: TestClient) -> None:
    response = submit(client, {"dataset": "docs", "overrides": {"lora": {"rank": 4}}})
    assert response.status_code == 422
    assert "lora.rank" in error_of(response)["message"]


def test_an_unknown_dataset_is_a_422(client: TestClient, store: InMemoryRunStore) -> None:
    response = submit(client, {"dataset": "payroll"})

    assert response.status_code == 422
    assert error_of(response) == {
        "code": "unknown_dataset",
        "message": "dataset 'payroll' is not configured for training",
    }
    assert store.list() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataset": "docs", "priority": 1}, "priority: Extra inputs are not permitted"),
        ({"overrides": {}}, "dataset: Field required"),
        ({"dataset": 7}, "dataset: Input should be a valid string"),
        ({"dataset": "../etc"}, "dataset: String should match pattern"),
        ({"dataset": "docs", "overrides": [1]}, "overrides: Input should be a valid dictionary"),
        ({"dataset": "docs", "overrides": {"seed": 10**30}}, "overrides: seed: integer out of range"),
        ({"dataset": "docs", "overrides": {"seed": -(10**16)}}, "overrides: seed: integer out of range"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, store: InMemoryRunStore, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/trainings", json=body, headers=AUTH)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert store.list() == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"dataset": "docs",', 400, "malformed_json"),
        (b'{"dataset": "docs", "overrides": {"seed": NaN}}', 422, "invalid_request"),
        (b'{"dataset": "docs", "overrides": {"learning_rate": 1e999}}', 422, "invalid_request"),
        (b'{"dataset": "docs", "overrides": {"seed": 1' + b"0" * 5000 + b"}}", 400, "bad_request"),
        (b"[" * 20_000, 400, "bad_request"),
        (b'{"dataset": "docs", "overrides": {"a": "' + b"x" * 70_000 + b'"}}', 413, "payload_too_large"),
        (b"", 422, "invalid_request"),
    ],
    ids=["truncated", "nan", "infinite", "huge-int", "deep", "too-large", "empty"],
)
def test_malformed_bodies_are_4xx_json_errors(
    client: TestClient, store: InMemoryRunStore, content: bytes, status: int, code: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = client.post("/v1/trainings", content=content, headers=headers)

    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert store.list() == []


def test_a_streamed_body_over_the_limit_is_a_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"dataset": "docs", "overrides": {"a": "'
        for _ in range(80):
            yield b"x" * 1000
        yield b'"}}'

    response = client.post(
        "/v1/trainings", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_deeply_nested_overrides_are_refused(client: TestClient) -> None:
    nested: dict[str, Any] = {"x": 1}
    for _ in range(10):
        nested = {"x": nested}
    response = submit(client, {"dataset": "docs", "overrides": nested})
    assert response.status_code == 422
    assert "nested deeper than" in error_of(response)["message"]


def test_unknown_routes_and_methods_are_json_errors(client: TestClient) -> None:
    missing = client.get("/v2/nothing", headers=AUTH)
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"

    wrong_method = client.delete("/v1/trainings", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, POST"
    assert error_of(wrong_method)["code"] == "method_not_allowed"


def test_an_unexpected_error_is_a_json_500(
    store: InMemoryRunStore, registry: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[RunRecord]:
        raise RuntimeError("store exploded")

    store.list = broken  # type: ignore[method-assign]
    app = create_app(make_service(store, registry), TOKEN)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/trainings", headers=AUTH)
        metrics = client.get("/metrics").text

    assert response.status_code == 500
    assert error_of(response) == {
        "code": "internal_error",
        "message": "unexpected error; see the trainer's logs",
    }
    assert "store exploded" not in response.text
    assert any(r.exc_info and "store exploded" in str(r.exc_info[1]) for r in caplog.records)
    assert 'tuneline_trainer_api_requests_total{route="/v1/trainings",status="500"} 1.0' in metrics


# --- reading and cancelling ---------------------------------------------------------------------------


def test_get_an_unknown_run_is_a_404(client: TestClient) -> None:
    response = client.get("/v1/trainings/docs-20260101T000000-abcdef12", headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["code"] == "run_not_found"


def test_list_filters_by_dataset_and_limits(client: TestClient) -> None:
    ids = [submit(client, {"dataset": d}).json()["run_id"] for d in ["docs", "tickets", "docs", "docs"]]

    def listed(query: str) -> list[str]:
        response = client.get(f"/v1/trainings{query}", headers=AUTH)
        assert response.status_code == 200
        return [run["run_id"] for run in response.json()["runs"]]

    assert sorted(listed("")) == sorted(ids)
    assert set(listed("?dataset=docs")) == {ids[0], ids[2], ids[3]}
    assert listed("?dataset=tickets") == [ids[1]]
    assert listed("?dataset=unknown") == []
    assert len(listed("?dataset=docs&limit=2")) == 2


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=501", "?limit=ten", "?limit=1e3", "?dataset=a/b", "?datset=docs"]
)
def test_list_rejects_bad_queries(client: TestClient, query: str) -> None:
    response = client.get(f"/v1/trainings{query}", headers=AUTH)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_request"


def test_cancel_a_queued_run(client: TestClient) -> None:
    run_id = submit(client).json()["run_id"]

    response = client.post(f"/v1/trainings/{run_id}/cancel", headers=AUTH)

    assert response.status_code == 202
    assert response.json()["state"] == "cancelled"
    assert response.json()["cancel_requested"] is True


def test_cancel_a_running_run_asks_it_to_stop(client: TestClient, store: InMemoryRunStore) -> None:
    run_id = submit(client).json()["run_id"]
    store.move(run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=T0)

    for _ in range(2):  # asking again is harmless
        response = client.post(f"/v1/trainings/{run_id}/cancel", headers=AUTH)
        assert response.status_code == 202
        assert response.json()["state"] == "running"
        assert response.json()["cancel_requested"] is True


def test_cancel_a_finished_run_is_a_409(client: TestClient, store: InMemoryRunStore) -> None:
    run_id = submit(client).json()["run_id"]
    finish(store, run_id, RunState.SUCCEEDED, model_uri="/models/x")

    response = client.post(f"/v1/trainings/{run_id}/cancel", headers=AUTH)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "run_finished"
    assert "succeeded" in error["message"]


def test_cancel_an_unknown_run_is_a_404(client: TestClient) -> None:
    response = client.post("/v1/trainings/nope/cancel", headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["code"] == "run_not_found"


def test_models_flag_the_production_model(
    client: TestClient, store: InMemoryRunStore, registry: FakeRegistry
) -> None:
    old, new, other, failed = (
        submit(client, {"dataset": d}).json()["run_id"] for d in ["docs", "docs", "tickets", "docs"]
    )
    finish(store, old, RunState.SUCCEEDED, model_uri="s3://models/old", base_model="tiny", record_count=10)
    finish(store, new, RunState.SUCCEEDED, model_uri="s3://models/new", metrics={"eval_loss": 1.5})
    finish(store, other, RunState.SUCCEEDED, model_uri="/models/other")
    finish(store, failed, RunState.FAILED, error="boom")
    registry.promote("docs", old)

    body = client.get("/v1/models", headers=AUTH).json()

    assert body["production"] == {"docs": old}
    flags = {m["run_id"]: m["production"] for m in body["models"]}
    assert flags == {old: True, new: False, other: False}
    by_id = {m["run_id"]: m for m in body["models"]}
    assert by_id[old]["model_uri"] == "s3://models/old"
    assert by_id[old]["base_model"] == "tiny"
    assert by_id[old]["record_count"] == 10
    assert by_id[new]["metrics"] == {"eval_loss": 1.5}

    docs_only = client.get("/v1/models?dataset=tickets", headers=AUTH).json()
    assert docs_only == {"models": [by_id[other]], "production": {}}


# --- operations ---------------------------------------------------------------------------------------


def test_readyz_follows_the_readiness_check(client: TestClient, ready: threading.Event) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    ready.clear()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert error_of(response)["code"] == "not_ready"
    assert client.get("/healthz").json() == {"status": "ok"}  # alive all the same


def test_readyz_is_503_when_the_check_raises(store: InMemoryRunStore, registry: FakeRegistry) -> None:
    def check() -> bool:
        raise ConnectionError("dynamodb down")

    client = TestClient(create_app(make_service(store, registry), TOKEN, readiness=check))
    assert client.get("/readyz").status_code == 503


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    run_id = submit(client).json()["run_id"]
    client.get(f"/v1/trainings/{run_id}", headers=AUTH)
    client.get("/v1/trainings/someone-else", headers=AUTH)
    client.get("/v1/models")
    client.get("/no/such/route")

    text = client.get("/metrics").text

    assert 'tuneline_trainer_api_requests_total{route="/v1/trainings",status="202"} 1.0' in text
    assert 'tuneline_trainer_api_requests_total{route="/v1/trainings/{run_id}",status="200"} 1.0' in text
    assert 'tuneline_trainer_api_requests_total{route="/v1/trainings/{run_id}",status="404"} 1.0' in text
    assert 'tuneline_trainer_api_requests_total{route="/v1/models",status="401"} 1.0' in text
    assert 'tuneline_trainer_api_requests_total{route="unmatched",status="404"} 1.0' in text
    assert run_id not in text


def test_each_app_has_its_own_metrics(store: InMemoryRunStore, registry: FakeRegistry) -> None:
    one = TestClient(create_app(make_service(store, registry), TOKEN))
    two = TestClient(create_app(make_service(store, registry), TOKEN))
    one.get("/healthz")
    assert 'route="/healthz"' not in two.get("/metrics").text


def test_run_out_shows_every_field_of_the_stored_run() -> None:
    assert set(RunOut.model_fields) == set(RunRecord.model_fields)
    assert set(ProgressOut.model_fields) == set(Progress.model_fields)
    run = RunRecord(run_id="docs-1", dataset="docs", reason="manual", requested_by="a", created_at=T0)
    assert RunOut.of(run).model_dump() == run.model_dump()
