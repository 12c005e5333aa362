"""`tuneline lineage` on a real DynamoDB-compatible server: records of every source kind in the records
table, runs in the runs table, models with their records lists in a local model store. A record id
reaches the models that learned from it, and a model's list leads back to its records' sources."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.model_folder.files import MANIFEST_FILE, RECORDS_FILE
from libs.model_folder.lineage import dump_entries, record_entries
from libs.model_folder.manifest import DataManifest, ModelManifest, ids_digest
from libs.model_folder.store import LocalModelStore
from libs.registry import ModelRegistry
from libs.schemas import RecordKind, SanitizedRecord, TriggerReason
from libs.storage.items import to_item
from libs.storage.tables import init_tables
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.core.runs import RunRecord, RunState
from services.writer.adapters.dynamodb import DynamoBatchWriter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

COLLECTED = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)
SQL_ID, LOG_ID, HTTP_ID = "helpdesk:tickets-42", "applogs:ab12-1234", "kb:articles-7"
ORIGINS: dict[str, tuple[str, RecordKind, dict[str, Any]]] = {
    SQL_ID: ("helpdesk", RecordKind.SQL, {"table": "tickets", "key": {"ticket_id": 42}}),
    LOG_ID: (
        "applogs",
        RecordKind.LOG,
        {"path": "/var/log/app/app.log", "offset": 1234, "fingerprint": "ab12"},
    ),
    HTTP_ID: ("kb", RecordKind.HTTP, {"url": "http://127.0.0.1:8700/articles", "page": 2, "index": 3}),
}
OTHERS = [f"helpdesk:tickets-{i}" for i in range(100, 130)]


def store_records(client: Any, prefix: str) -> int:
    items = []
    ingested_ms = int(dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC).timestamp() * 1000)
    for n, (record_id, (source, kind, metadata)) in enumerate(
        [*ORIGINS.items(), *((i, ORIGINS[SQL_ID]) for i in OTHERS)]
    ):
        record = SanitizedRecord(
            id=record_id, source=source, kind=kind, content=f"Ticket {n}: the VPN rejects <EMAIL_1a2b3c>.",
            fields={}, metadata=metadata, collected_at=COLLECTED, dataset="support",
            content_hash=f"{n:032x}", pii={"EMAIL_ADDRESS": 1}, sanitized_at=COLLECTED,
        )  # fmt: skip
        items.append(to_item(record, ingested_ms, shards=16))
    writer = DynamoBatchWriter(client, f"{prefix}records", 2, budget_s=60)
    writer.write(items)
    writer.close()
    return ingested_ms


def publish_model(
    store: LocalModelStore, tmp: Path, run_id: str, dataset: str, train: list[str], evaluation: list[str],
    with_list: bool = True,
) -> str:  # fmt: skip
    """A model folder as the trainer's job publishes it: manifest, records list (unless ``with_list``)."""
    ids = [*train, *evaluation]
    folder = tmp / run_id
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    manifest = ModelManifest(
        run_id=run_id, dataset=dataset, base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        base_model_kind="local", created_at=COLLECTED + dt.timedelta(hours=2),
        data=DataManifest(
            dataset=dataset, watermark=COLLECTED + dt.timedelta(hours=1), record_count=len(ids),
            train_records=len(train), eval_records=len(evaluation), train_blocks=1, eval_blocks=1,
            tokens=1000, ids_digest=ids_digest(ids), eval_fraction=0.1,
        ),
        training={}, code_version="test", finetune="lora", records_file=RECORDS_FILE if with_list else None,
    )  # fmt: skip
    if with_list:
        with open(folder / RECORDS_FILE, "w") as out:
            out.writelines(dump_entries(record_entries(ids, train, evaluation)))
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json())
    return store.publish(run_id, folder)


def add_run(runs: DynamoRunStore, run_id: str, dataset: str, model_uri: str | None, minutes: int) -> None:
    created = COLLECTED + dt.timedelta(hours=1, minutes=minutes)
    run = RunRecord(run_id=run_id, dataset=dataset, reason=TriggerReason.MANUAL, requested_by="test",
                    created_at=created)  # fmt: skip
    runs.create(run)
    runs.move(run_id, {RunState.QUEUED}, RunState.RUNNING)
    if model_uri is None:
        runs.move(run_id, {RunState.RUNNING}, RunState.FAILED)
    else:
        runs.move(run_id, {RunState.RUNNING}, RunState.SUCCEEDED, model_uri=model_uri)


@pytest.fixture
def lineage_env(
    tmp_path: Path, dynamodb_client: Any, dynamodb_endpoint: str, table_prefix: str
) -> dict[str, str]:
    init_tables(dynamodb_client, table_prefix)
    store_records(dynamodb_client, table_prefix)
    store = LocalModelStore(tmp_path / "models")
    staging = tmp_path / "staging"
    staging.mkdir()
    runs = DynamoRunStore(dynamodb_client, table_prefix)
    everything = [*ORIGINS, *OTHERS]
    # run-a trained on every record but the HTTP one (eval); run-b had the SQL row in its eval split;
    # run-old predates records lists; run-crm is another dataset; run-failed has no model.
    uri_a = publish_model(
        store, staging, "run-a", "support", [i for i in everything if i != HTTP_ID], [HTTP_ID]
    )
    uri_b = publish_model(store, staging, "run-b", "support", [LOG_ID, *OTHERS], [SQL_ID])
    uri_old = publish_model(store, staging, "run-old", "support", everything, [], with_list=False)
    uri_crm = publish_model(store, staging, "run-crm", "crm", ["crm:1", "crm:2"], ["crm:3"])
    add_run(runs, "run-old", "support", uri_old, 0)
    add_run(runs, "run-a", "support", uri_a, 10)
    add_run(runs, "run-b", "support", uri_b, 20)
    add_run(runs, "run-crm", "crm", uri_crm, 30)
    add_run(runs, "run-failed", "support", None, 40)
    assert ModelRegistry(dynamodb_client, table_prefix).set_production("support", "run-a", uri_a, None)
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
    }


def tuneline(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "services.cli", "lineage", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_a_record_reaches_the_models_that_learned_from_it_and_back(
    lineage_env: dict[str, str], dynamodb_client: Any, table_prefix: str
) -> None:
    # Model -> records: the manifest, checked against its list, and the list itself.
    summary = json.loads(tuneline(lineage_env, "run-a", "--json").stdout)
    assert summary["record_count"] == 33 and summary["records_verified"] is True
    assert summary["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert summary["ids_digest"] == ids_digest([*ORIGINS, *OTHERS])
    assert summary["watermark"].startswith("2026-11-25T10:30")
    listed = dict(
        line.split("\t") for line in tuneline(lineage_env, "run-a", "--records").stdout.splitlines()
    )
    assert listed[SQL_ID] == "train" and listed[HTTP_ID] == "eval" and len(listed) == 33

    # Record -> source and models: a record of every kind, from the list back to where it was collected.
    found = json.loads(tuneline(lineage_env, "--record", SQL_ID, "--record", LOG_ID, "--record", HTTP_ID,
                                "--json").stdout)  # fmt: skip
    sql, log, http = found
    assert sql["position"] == "table tickets, key ticket_id=42" and sql["source"] == "helpdesk"
    assert sql["collected_at"] == COLLECTED.isoformat() and sql["ingested_at"].startswith("2026-11-25T10:00")
    assert log["position"].startswith("file /var/log/app/app.log, byte offset 1234")
    assert http["position"] == "url http://127.0.0.1:8700/articles, page 2, item 3"
    assert [(m["run_id"], m["split"], m["trained_on"], m["production"]) for m in sql["models"]] == [
        ("run-b", "eval", False, False),  # newest first
        ("run-a", "train", True, True),
    ]
    assert {m["run_id"] for m in log["models"]} == {"run-a", "run-b"}
    assert [(m["run_id"], m["trained_on"]) for m in http["models"]] == [("run-a", False)]
    assert sql["unsearchable_runs"] == ["run-old"]  # the crm run was not read: another dataset

    # Human output names the position and the runs.
    text = tuneline(lineage_env, "--record", SQL_ID).stdout
    assert "table tickets, key ticket_id=42" in text and "run-a" in text and "not searchable" in text

    # Erasure: the record is deleted from the table, and the models that hold it are still found.
    dynamodb_client.delete_item(TableName=f"{table_prefix}records", Key={"id": {"S": SQL_ID}})
    gone = json.loads(tuneline(lineage_env, "--record", SQL_ID, "--json").stdout)
    assert gone["stored"] is False and {m["run_id"] for m in gone["models"]} == {"run-a", "run-b"}
    unknown = json.loads(tuneline(lineage_env, "--record", "helpdesk:never", "--json").stdout)
    assert unknown["stored"] is False and unknown["models"] == []


def test_a_list_that_does_not_match_the_manifest_and_missing_runs_fail_loudly(
    lineage_env: dict[str, str], tmp_path: Path
) -> None:
    records = tmp_path / "models" / "run-b" / RECORDS_FILE
    records.write_text("".join(records.read_text().splitlines(keepends=True)[1:]))  # one record dropped
    done = tuneline(lineage_env, "run-b", ok=False)
    assert done.returncode == 1 and "the manifest says" in done.stderr
    old = json.loads(tuneline(lineage_env, "run-old", "--json").stdout)
    assert old["records_verified"] is False and old["record_count"] == 33  # the manifest alone
    assert tuneline(lineage_env, "run-old", "--records", ok=False).returncode == 1
    for missing in ("run-failed", "run-nope"):
        assert tuneline(lineage_env, missing, ok=False).returncode == 1
    assert tuneline(lineage_env, ok=False).returncode == 2  # neither a run nor --record
