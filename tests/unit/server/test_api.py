"""The OpenAI-compatible API in process, on a tiny real model: shapes, streaming, auth, limits."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.server.adapters.engine import EngineHooks, Job, load_engine
from services.server.adapters.http_api import RUN_HEADER, create_app
from services.server.adapters.models import ServedModels
from services.server.core.limits import Limits
from services.server.metrics import ServerMetrics

TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = {
    "model": "support",
    "messages": [{"role": "user", "content": "How do I reset my vpn?"}],
    "max_tokens": 8,
}


@pytest.fixture
def models(tiny_models: dict[str, Path]) -> Iterator[ServedModels]:
    models = ServedModels(lambda d, r, uri: load_engine(uri, "cpu", "float32", 8, 0.005, EngineHooks(), r))
    yield models
    models.close()


def client_for(models: ServedModels, **options: Any) -> TestClient:
    registry = CollectorRegistry()
    limits = Limits(max_tokens=32, default_max_tokens=8, max_prompt_tokens=64)
    app = create_app(models, ServerMetrics.create(registry), registry, TOKEN, limits, **options)
    return TestClient(app)


def events(body: str) -> list[Any]:
    out = []
    for block in body.split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            payload = block.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_not_ready_until_a_model_is_loaded_then_it_names_the_run(
    models: ServedModels, tiny_models: dict[str, Path]
) -> None:
    client = client_for(models)
    assert client.get("/readyz").status_code == 503
    assert client.get("/v1/models", headers=AUTH).json()["data"] == []
    models.switch("support", "run-a", str(tiny_models["a"]))
    assert client.get("/readyz").json() == {"status": "ready", "serving": {"support": "run-a"}}
    (entry,) = client.get("/v1/models", headers=AUTH).json()["data"]
    assert (entry["id"], entry["run_id"], entry["object"]) == ("support", "run-a", "model")


def test_a_chat_completion_is_answered_by_the_production_run(
    models: ServedModels, tiny_models: dict[str, Path]
) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    response = client_for(models).post("/v1/chat/completions", headers=AUTH, json={**CHAT, "temperature": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers[RUN_HEADER] == "run-a" and body["model"] == "support:run-a"
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    used = body["usage"]
    assert used["prompt_tokens"] > 5 and 0 <= used["completion_tokens"] <= 8
    assert used["total_tokens"] == used["prompt_tokens"] + used["completion_tokens"]


def test_a_streamed_chat_sends_the_same_text_in_chunks_then_done(
    models: ServedModels, tiny_models: dict[str, Path]
) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    client = client_for(models)
    whole = client.post(
        "/v1/chat/completions", headers=AUTH, json={**CHAT, "temperature": 0, "max_tokens": 16}
    )
    options = {"stream": True, "stream_options": {"include_usage": True}}
    streamed = client.post(
        "/v1/chat/completions", headers=AUTH, json={**CHAT, "temperature": 0, "max_tokens": 16, **options}
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    chunks = events(streamed.text)
    assert chunks[-1] == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1] if c["choices"])
    assert text == whole.json()["choices"][0]["message"]["content"]
    finals = [c for c in chunks[:-1] if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"] == whole.json()["usage"]


def test_a_text_completion_streams_and_whole(models: ServedModels, tiny_models: dict[str, Path]) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    client = client_for(models)
    body = {"model": "support", "prompt": "The fox lives in the", "max_tokens": 6, "temperature": 0}
    whole = client.post("/v1/completions", headers=AUTH, json=body).json()
    assert whole["object"] == "text_completion" and whole["usage"]["completion_tokens"] <= 6
    chunks = events(client.post("/v1/completions", headers=AUTH, json={**body, "stream": True}).text)
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == whole["choices"][0]["text"]


def test_every_error_has_openais_shape(models: ServedModels, tiny_models: dict[str, Path]) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    client = client_for(models, max_body_bytes=4096)

    def error(response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        detail: dict[str, Any] = response.json()["error"]
        assert set(detail) == {"message", "type", "param", "code"}
        return detail

    unauthenticated = client.post("/v1/chat/completions", json=CHAT)
    assert error(unauthenticated, 401)["code"] == "invalid_api_key"
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer " + secrets.token_urlsafe(24)}
    assert error(client.get("/v1/models", headers=wrong), 401)["type"] == "authentication_error"
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json={**CHAT, "max_tokens": 33}), 400)[
            "param"
        ]
        == "max_tokens"
    )
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json={**CHAT, "model": "wiki"}), 404)["code"]
        == "model_not_found"
    )
    pinned_gone = {**CHAT, "model": "support:run-old"}
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json=pinned_gone), 404)["code"]
        == "model_not_found"
    )
    long_prompt = {**CHAT, "messages": [{"role": "user", "content": "reset " * 200}]}
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json=long_prompt), 400)["code"]
        == "prompt_too_long"
    )
    invalid = client.post(
        "/v1/chat/completions", headers={**AUTH, "content-type": "application/json"}, content=b"{"
    )
    assert error(invalid, 400)["code"] == "invalid_json"
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json={"model": "support"}), 400)["param"]
        == "messages"
    )
    huge = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    assert (
        error(client.post("/v1/chat/completions", headers=AUTH, json=huge), 413)["code"]
        == "payload_too_large"
    )
    assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200


def test_requests_over_the_concurrency_limit_get_a_429(
    models: ServedModels, tiny_models: dict[str, Path]
) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    engine = models.get("support").engine  # type: ignore[union-attr]
    held: list[Job] = []
    real_submit = engine.submit
    engine.submit = held.append  # type: ignore[method-assign]  # the first request waits until released
    registry = CollectorRegistry()
    app = create_app(models, ServerMetrics.create(registry), registry, TOKEN, max_concurrent=1)

    async def scenario() -> tuple[int, int, str | None]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            first = asyncio.create_task(client.post("/v1/chat/completions", headers=AUTH, json=CHAT))
            while not held:
                await asyncio.sleep(0.01)
            second = await client.post("/v1/chat/completions", headers=AUTH, json=CHAT)
            held[0].finish("length")
            done = await first
            return second.status_code, done.status_code, second.headers.get("retry-after")

    try:
        rejected, served, retry_after = asyncio.run(scenario())
    finally:
        engine.submit = real_submit  # type: ignore[method-assign]
    assert (rejected, served, retry_after) == (429, 200, "1")


def test_a_request_after_a_switch_goes_to_the_new_run(
    models: ServedModels, tiny_models: dict[str, Path]
) -> None:
    models.switch("support", "run-a", str(tiny_models["a"]))
    client = client_for(models)
    assert client.post("/v1/chat/completions", headers=AUTH, json=CHAT).json()["model"] == "support:run-a"
    models.switch("support", "run-b", str(tiny_models["b"]))
    response = client.post("/v1/chat/completions", headers=AUTH, json=CHAT)
    assert response.json()["model"] == "support:run-b" and response.headers[RUN_HEADER] == "run-b"
