"""Continuous evaluation on real servers: the evaluator worker (a process, its drift thread) checks each
production model on the records that arrived after its training, against its evaluation report stored at
promotion, and asks the admin API (served over HTTP, runs and registry in DynamoDB) for a `drift` run.

Two datasets share one tiny model trained on two sources (support Q/A pairs, wiki sentences). After
promotion, `general` receives support records like those it learned and wiki records from a new domain;
`calm` receives only records like those it learned. Exactly one drift run is requested, for `general`,
driven by `wiki`; a later check of the same model replays its key instead of asking again.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
import uvicorn
import yaml

from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.registry import DriftCheck, ModelRegistry
from libs.schemas import RecordKind, SanitizedRecord
from libs.storage.items import to_item
from libs.storage.tables import DatasetCounters, init_tables
from services.evaluator.core.config import EvaluatorConfig
from services.evaluator.worker import evaluate_run
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.api import create_app
from services.trainer.core.config import TrainerConfig
from services.trainer.service import TrainerService
from services.writer.adapters.dynamodb import DynamoBatchWriter
from tests.integration.pipeline_helpers import ServiceProcess
from tests.unit.evaluator import tiny_models as T

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

TOKEN = "drift-integration-token-4f9a1c7e2b"  # noqa: S105 - a test's own token
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WATERMARK = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)  # the model's training snapshot

# A domain the model never saw: words outside its tokenizer's merges, another sentence shape.
NEW_DOMAIN = [
    "Kubernetes reschedules the etcd quorum whenever a zonal node pool drains unexpectedly.",
    "Quarterly procurement audits reconcile vendor invoices against purchase orders in SAP.",
    "Grafana dashboards visualize p99 latency histograms exported through OpenTelemetry.",
    "Terraform plans enumerate drifted IAM policies before the nightly apply job runs.",
    "Zookeeper ensembles were decommissioned after KRaft controllers took over metadata.",
]

EVALUATOR_CONFIG: dict[str, Any] = {
    "runtime": {"device": "cpu"},
    "loss": {"batch_size": 32, "max_seq_len": 64},
    "generation": {"batch_size": 32, "max_new_tokens": 8, "max_pairs": 10, "max_text_prompts": 5},
    "pii_scan": {"enabled": False},
    "drift": {
        "poll_s": 1,
        "min_new_records": 50,
        "max_interval_s": None,
        "margin": 0.15,
        "min_records_per_source": 10,
        "held_out_only": False,
        "max_pairs": 5,
        "settle_s": 0,
    },
}


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("drift-models")
    train, _ = T.split(T.corpus())
    model, tokenizer = T.new_model(train)
    texts = T.rendered(train, tokenizer)
    T.train(model, tokenizer, texts, steps=5)
    base = T.save(model, tokenizer, root / "base-model")
    T.train(model, tokenizer, texts, steps=120, seed=1)
    torch.set_num_threads(threads)
    return {
        dataset: T.publish(
            model, tokenizer, base, root / "store" / f"{dataset}-prod", f"{dataset}-prod", dataset, WATERMARK
        )
        for dataset in ("general", "calm")
    }


def fresh(dataset: str, source: str, i: int, content: str, fields: dict[str, Any]) -> SanitizedRecord:
    now = dt.datetime.now(dt.UTC)
    return SanitizedRecord(
        id=f"fresh-{dataset}-{source}-{i:04d}", source=source, kind=RecordKind.SQL, content=content,
        fields=fields, metadata={}, collected_at=now, dataset=dataset, content_hash=f"{i:032x}", pii={},
        sanitized_at=now,
    )  # fmt: skip


def like_training(dataset: str, source: str, n: int) -> list[SanitizedRecord]:
    """Fresh records (new ids) written like the ones the model learned."""
    corpus = [r for r in T.corpus() if r.source == source]
    out = []
    for i in range(n):
        r = corpus[(i * 7) % len(corpus)]
        content = r.content or f"{r.fields['question']}\n{r.fields['answer']}"
        out.append(fresh(dataset, source, i, content, dict(r.fields)))
    return out


def new_domain(dataset: str, source: str, n: int) -> list[SanitizedRecord]:
    return [fresh(dataset, source, i, f"{NEW_DOMAIN[i % 5]} Ticket {i}.", {}) for i in range(n)]


def store(client: Any, prefix: str, records: list[SanitizedRecord]) -> None:
    """Stored the way the writer stores them, ingested after the model's watermark; counted like it."""
    ingested = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).timestamp() * 1000)
    writer = DynamoBatchWriter(client, f"{prefix}records", 4, budget_s=60)
    writer.write([to_item(r, ingested + i, shards=16) for i, r in enumerate(records)])
    writer.close()
    counts: dict[str, int] = {}
    for r in records:
        counts[r.dataset] = counts.get(r.dataset, 0) + 1
    DatasetCounters(client, prefix).add(counts, dt.datetime.now(dt.UTC).isoformat())


@pytest.fixture
def admin_api(dynamodb_client: Any, table_prefix: str) -> Iterator[str]:
    """The trainer's admin API (no executor: requested runs stay queued) on a free 127.0.0.1 port."""
    config = TrainerConfig.model_validate(
        {"datasets": [{"name": "general", "cooldown_s": 3600}, {"name": "calm", "cooldown_s": 3600}]}
    )
    service = TrainerService(config, DynamoRunStore(dynamodb_client, table_prefix),
                             ModelRegistry(dynamodb_client, table_prefix))  # fmt: skip
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service, TOKEN), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="admin-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def wait_for(predicate: Callable[[], Any], what: str, log: ServiceProcess, timeout_s: float = 300) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert log.alive(), f"the evaluator exited:\n{log.log()[-6000:]}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{log.log()[-6000:]}")


def test_a_drifted_source_requests_exactly_one_drift_run(
    model_folders: dict[str, Path], admin_api: str, kafka_bootstrap: str, dynamodb_endpoint: str,
    dynamodb_client: Any, table_prefix: str, unique_id: str, tmp_path: Path, services: list[ServiceProcess],
) -> None:  # fmt: skip
    init_tables(dynamodb_client, table_prefix)
    registry = ModelRegistry(dynamodb_client, table_prefix)
    config = EvaluatorConfig.model_validate(EVALUATOR_CONFIG)

    # Promotion: each model's evaluation report (the baseline) is stored, and it becomes production.
    for dataset, folder in model_folders.items():
        run_id = f"{dataset}-prod"
        outcome = evaluate_run(
            run_id, dataset, str(folder), registry, config, tmp_path / "work", [], promote=False
        )
        assert set(outcome.report.candidate.metrics.by_source) == {"support", "wiki"}
        assert registry.set_production(dataset, run_id, str(folder), None, reason="test promotion")

    # After promotion: a new domain for general's wiki source; calm keeps to what its model learned.
    store(
        dynamodb_client,
        table_prefix,
        like_training("general", "support", 30) + new_domain("general", "wiki", 30),
    )
    store(
        dynamodb_client,
        table_prefix,
        like_training("calm", "support", 30) + like_training("calm", "wiki", 30),
    )

    config_file = tmp_path / "evaluator.yaml"
    config_file.write_text(yaml.safe_dump(EVALUATOR_CONFIG))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_ADMIN_TOKEN": TOKEN,
        "TUNELINE_EVALUATOR_ADMIN_URL": admin_api,
        "TUNELINE_EVALUATOR_CONFIG_FILE": str(config_file),
        "TUNELINE_EVALUATOR_EVENTS_TOPIC": f"training.events.{unique_id}",
        "TUNELINE_EVALUATOR_DLQ_TOPIC": f"evaluator.dlq.{unique_id}",
        "TUNELINE_EVALUATOR_GROUP_ID": f"evaluator-{unique_id}",
        "TUNELINE_EVALUATOR_HTTP_PORT": str(free_port()),
        "TUNELINE_EVALUATOR_WORK_DIR": str(tmp_path / "evaluator"),
        "TUNELINE_EVALUATOR_CANARIES": "false",
        "OMP_NUM_THREADS": "1",
    }
    evaluator = ServiceProcess("evaluator", env, tmp_path / "evaluator.log", Path.cwd()).start()
    services.append(evaluator)

    general: DriftCheck = wait_for(lambda: registry.drift("general"), "general's first check", evaluator)
    calm: DriftCheck = wait_for(lambda: registry.drift("calm"), "calm's first check", evaluator)

    report = general.report
    rows = {row["name"]: row for row in report["sources"]}
    assert report["drifted"] and report["drove"] == ["wiki"], report["summary"]
    assert rows["wiki"]["status"] == "drifted" and rows["wiki"]["baseline_from"] == "source"
    assert rows["support"]["status"] == "ok" and rows["support"]["baseline"] is not None
    assert rows["support"]["task"]["examples"] == 5 and rows["support"]["baseline_task"] is not None
    assert report["records"] == 60 and report["has_baseline"]
    assert report["training"]["status"] == "requested", report["training"]
    drift_run = report["training"]["run_id"]
    assert not calm.report["drifted"] and calm.report["training"]["status"] == "not_needed", calm.report
    assert {row["status"] for row in calm.report["sources"]} == {"ok"}

    # No new records: the next polls do not check again. More records: a check, and the same key.
    time.sleep(3)
    assert len(registry.drift("general").history) == 1  # type: ignore[union-attr]
    store(dynamodb_client, table_prefix, new_domain("general", "wiki", 50))
    again = wait_for(
        lambda: (d := registry.drift("general")) is not None and len(d.history) == 2 and d,
        "general's second check",
        evaluator,
    )
    assert again.report["drifted"] and again.report["training"]["status"] == "replayed", again.report
    assert again.report["training"]["run_id"] == drift_run

    with httpx.Client(base_url=admin_api, headers=AUTH, timeout=30) as api:
        runs = api.get("/v1/trainings").json()["runs"]
        assert [(r["dataset"], r["reason"], r["run_id"]) for r in runs] == [("general", "drift", drift_run)]
        served = api.get("/v1/models/general/drift").json()
        assert served["report"]["drove"] == ["wiki"] and len(served["history"]) == 2
        markdown = api.get("/v1/models/general/drift.md")
        assert markdown.status_code == 200 and "Sources that drove it: wiki." in markdown.text
        chart = api.get("/v1/models/general/drift/charts/drift.png")
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        assert api.get("/v1/models/calm/drift").json()["report"]["drifted"] is False
        assert httpx.get(f"{admin_api}/v1/models/general/drift", timeout=10).status_code == 401
