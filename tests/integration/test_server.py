"""The model server on the real stack: a Kafka broker, the DynamoDB-compatible server, the registry in
the runs table, ``python -m services.server`` as a process, and the official ``openai`` client.

A promotion and a rollback are made as the evaluator and the admin API make them: the registry item
first, then ``ModelPromoted`` on the events topic. The periodic registry read is set to 10 minutes, so
a switch within the test's waits can only come from the event.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from confluent_kafka import Producer
from openai.types.chat import ChatCompletionMessageParam

from libs.common.kafka import client_config, plaintext_settings
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.registry import ModelRegistry
from libs.schemas import ModelPromoted, PromotionAction
from libs.storage.tables import init_tables
from tests.integration.pipeline_helpers import ROOT, ServiceProcess
from tests.unit.server import tiny_served

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DATASET = "support"
TOKEN = secrets.token_urlsafe(24)
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "How do I reset my vpn?"}]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_served.build(tmp_path_factory.mktemp("served-models"))


class Stack:
    def __init__(self, registry: ModelRegistry, bootstrap: str, topic: str) -> None:
        self.registry, self.topic = registry, topic
        self.producer = Producer(client_config(plaintext_settings(bootstrap)))

    def promote(self, run_id: str, uri: str, action: PromotionAction = PromotionAction.PROMOTE) -> None:
        current = self.registry.production(DATASET)
        expected = current.run_id if current else None
        assert self.registry.set_production(DATASET, run_id, uri, expected, action=str(action))
        now = dt.datetime.now(dt.UTC)
        event = ModelPromoted(run_id=run_id, dataset=DATASET, occurred_at=now, model_uri=uri,
                              previous_run_id=expected, action=action, by="test")  # fmt: skip
        self.producer.produce(self.topic, key=DATASET.encode(), value=event.model_dump_json().encode())
        assert self.producer.flush(30) == 0


@pytest.fixture
def stack(kafka_bootstrap: str, dynamodb_client: Any, table_prefix: str, unique_id: str) -> Stack:
    init_tables(dynamodb_client, table_prefix)
    return Stack(
        ModelRegistry(dynamodb_client, table_prefix), kafka_bootstrap, f"training.events.{unique_id}"
    )


@pytest.fixture
def server(
    stack: Stack, services: list[ServiceProcess], tmp_path: Path, kafka_bootstrap: str,
    dynamodb_endpoint: str, table_prefix: str, unique_id: str,
) -> Iterator[str]:  # fmt: skip
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_SERVER_EVENTS_TOPIC": stack.topic,
        "TUNELINE_SERVER_GROUP_ID": f"server-{unique_id}",
        "TUNELINE_SERVER_HTTP_PORT": str(port),
        "TUNELINE_SERVER_API_TOKEN": TOKEN,
        "TUNELINE_SERVER_DATASETS": f'["{DATASET}"]',
        "TUNELINE_SERVER_REGISTRY_POLL_S": "600",
        "TUNELINE_SERVER_MAX_TOKENS": "64",
        "TUNELINE_SERVER_WORK_DIR": str(tmp_path / "work"),
        "OMP_NUM_THREADS": "1",
    }
    process = ServiceProcess("server", env, tmp_path / "server.log", ROOT).start()
    services.append(process)
    yield f"http://127.0.0.1:{port}"


def wait_until(
    check: Any, what: str, server_process: ServiceProcess | None = None, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server_process is not None:
            assert server_process.alive(), f"the server died:\n{server_process.log()[-4000:]}"
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    log = server_process.log()[-4000:] if server_process else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def serving(url: str) -> dict[str, str]:
    response = httpx.get(f"{url}/readyz", timeout=5)
    return dict(response.json().get("serving", {})) if response.status_code == 200 else {}


def test_promotions_and_a_rollback_switch_the_served_run_without_a_failed_request(
    stack: Stack, server: str, services: list[ServiceProcess], folders: dict[str, Path]
) -> None:
    process = services[0]
    wait_until(lambda: httpx.get(f"{server}/readyz", timeout=5).status_code == 503, "the server up", process)
    time.sleep(1)
    assert httpx.get(f"{server}/readyz", timeout=5).status_code == 503  # nothing in production yet
    stack.promote("run-a", str(folders["a"]))
    wait_until(lambda: serving(server) == {DATASET: "run-a"}, "run-a served", process)

    client = openai.OpenAI(base_url=f"{server}/v1", api_key=TOKEN, max_retries=0, timeout=60)
    (model,) = client.models.list().data
    assert model.id == DATASET and model.model_extra and model.model_extra["run_id"] == "run-a"
    answer = client.chat.completions.create(model=DATASET, messages=QUESTION, max_tokens=8)
    assert answer.model == f"{DATASET}:run-a" and answer.usage and answer.usage.completion_tokens <= 8

    # Clients stream without pause while run-b is promoted, then rolled back to run-a.
    served_by: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def client_loop() -> None:
        while not stop.is_set():
            try:
                stream = client.chat.completions.create(
                    model=DATASET,
                    messages=QUESTION,
                    max_tokens=12,
                    stream=True,
                )
                names = {chunk.model for chunk in stream}
                assert len(names) == 1, names  # one run answers a whole stream
                served_by.append(names.pop().split(":", 1)[1])
            except BaseException as exc:  # noqa: BLE001 - every failure is counted
                failures.append(exc)

    threads = [threading.Thread(target=client_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(served_by) >= 6, "requests on run-a", process)
        stack.promote("run-b", str(folders["b"]))
        wait_until(lambda: served_by[-6:] == ["run-b"] * 6, "requests on run-b", process)
        stack.promote("run-a", str(folders["a"]), PromotionAction.ROLLBACK)
        wait_until(lambda: served_by[-6:] == ["run-a"] * 6, "requests on run-a after the rollback", process)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    assert failures == [], failures[:3]
    switches = [b for a, b in zip(served_by, served_by[1:], strict=False) if a != b]
    assert "run-b" in switches and switches[-1] == "run-a"
    print(f"\nserver: {len(served_by)} streamed requests across 2 switches, 0 failed")

    metrics = httpx.get(f"{server}/metrics", timeout=5).text
    assert f'tuneline_server_production_run{{dataset="{DATASET}",run_id="run-a"}} 1.0' in metrics
    assert "run-b" not in metrics.split("tuneline_server_production_run")[1].split("# HELP")[0]
    assert "How do I reset" not in process.log()  # prompts stay out of the logs by default


def test_auth_and_limits_reach_the_openai_client_as_its_own_errors(
    stack: Stack, server: str, services: list[ServiceProcess], folders: dict[str, Path]
) -> None:
    stack.promote("run-a", str(folders["a"]))
    wait_until(lambda: serving(server) == {DATASET: "run-a"}, "run-a served", services[0])
    stranger = openai.OpenAI(base_url=f"{server}/v1", api_key=secrets.token_urlsafe(24), max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="at most 64"):
        client.chat.completions.create(model=DATASET, messages=QUESTION, max_tokens=65)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="wiki", messages=QUESTION)
    text = client.completions.create(
        model=DATASET, prompt="The fox lives in the", max_tokens=5, temperature=0
    )
    assert text.model == f"{DATASET}:run-a" and text.choices[0].finish_reason in ("stop", "length")
