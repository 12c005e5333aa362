"""Shared pieces of the trainer's integration tests: records in DynamoDB, a trainer process, the API."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from libs.common.kafka import ensure_topics, plaintext_settings
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.schemas import RecordKind, SanitizedRecord, TriggerReason
from libs.storage.items import to_item
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.adapters.events import EventPublisher
from services.trainer.announcer import Announcer
from services.trainer.core.runs import Progress, RunRecord, RunState
from services.writer.adapters.dynamodb import DynamoBatchWriter

TOKEN = "integration-test-token-0123456789"  # noqa: S105 - a test's own token
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SUBJECTS = [
    "The billing service",
    "The VPN gateway",
    "Our nightly export",
    "The ticket queue",
    "The audit job",
]
VERBS = ["restarts", "rejects", "archives", "validates", "compresses", "replicates"]
OBJECTS = ["stale sessions", "every invoice", "old snapshots", "failed uploads", "the weekly report"]
WHEN = ["at midnight", "after each deploy", "when the disk is full", "every hour", "before the backup"]


def record(i: int, dataset: str, rng: random.Random, source: str = "helpdesk") -> SanitizedRecord:
    s, v, o, w = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(WHEN)
    fields: dict[str, Any] = {"ticket": i}
    if i % 3 == 0:  # some records are question/answer pairs, trained through the chat template
        fields |= {"question": f"What does {s.lower()} do {w}?", "answer": f"{s} {v} {o} {w}."}
    return SanitizedRecord(
        id=f"{source}:{i:06d}",
        source=source,
        kind=RecordKind.SQL,
        content=f"{s} {v} {o} {w}.",
        fields=fields,
        metadata={"table": "tickets"},
        collected_at=NOW,
        dataset=dataset,
        content_hash=f"{i:032x}",
        pii={},
        sanitized_at=NOW,
    )


def seed_records(
    client: Any, prefix: str, dataset: str, n: int, seed: int = 11, source: str = "helpdesk"
) -> list[str]:
    """Store ``n`` records of ``dataset`` the way the writer does; returns their ids."""
    rng = random.Random(seed)  # noqa: S311 - synthetic text
    records = [record(i, dataset, rng, source) for i in range(n)]
    ingested_ms = int(time.time() * 1000) - 60_000  # before any run's watermark
    writer = DynamoBatchWriter(client, f"{prefix}records", 4, budget_s=60)
    writer.write([to_item(r, ingested_ms + i, shards=16) for i, r in enumerate(records)])
    writer.close()
    return [r.id for r in records]


def finish_run(
    client: Any, prefix: str, run_id: str, dataset: str, model_uri: str,
    base_model: str = "tuneline/tiny-llama", record_count: int = 1,
) -> RunRecord:  # fmt: skip
    """A succeeded run recorded the way the trainer records one, through its own run store: queued,
    running, then the outcome with ``announced`` false (as ``RunExecutor._finish`` writes it); nothing
    announced yet."""
    runs = DynamoRunStore(client, prefix)
    now = dt.datetime.now(dt.UTC)
    queued = RunRecord(run_id=run_id, dataset=dataset, reason=TriggerReason.MANUAL, requested_by="test",
                       config={"base_model": base_model}, created_at=now)  # fmt: skip
    assert runs.create(queued)[1]
    assert runs.move(run_id, {RunState.QUEUED}, RunState.RUNNING, started_at=now, owner="test-trainer")
    finished = runs.move(
        run_id, {RunState.RUNNING}, RunState.SUCCEEDED, announced=False, finished_at=now, error=None,
        progress=Progress(phase="done"), model_uri=model_uri, base_model=base_model, data_watermark=now,
        record_count=record_count, metrics={"eval_loss": 1.0},
    )  # fmt: skip
    assert finished is not None
    return finished


def announce(client: Any, prefix: str, run: RunRecord, bootstrap: str, topic: str) -> None:
    """Announce a finished run as the trainer does (claim, TrainingCompleted, mark announced); the
    topic is created first, as the trainer does at start."""
    shared = plaintext_settings(bootstrap)
    ensure_topics(shared, {topic: 1})
    events = EventPublisher(shared, topic)
    try:
        assert Announcer(DynamoRunStore(client, prefix), events, "test-trainer").announce(run)
    finally:
        events.close()


class Trainer:
    """A trainer service process (API + scheduler + executor) with its own port, folders and topic."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str], config: dict[str, Any]) -> None:
        self.port = free_port()
        self.folder = tmp_path / name
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path = self.folder / "trainer.yaml"
        config_path.write_text(yaml.safe_dump(config))
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
            "TUNELINE_ADMIN_TOKEN": TOKEN,
            "TUNELINE_TRAINER_HTTP_PORT": str(self.port),
            "TUNELINE_TRAINER_CONFIG_FILE": str(config_path),
            "TUNELINE_TRAINER_INSTANCE_ID": name,
            "TUNELINE_TRAINER_POLL_INTERVAL_S": "0.5",
            "TUNELINE_TRAINER_SCHEDULER_INTERVAL_S": "1",
            "TUNELINE_TRAINER_LEASE_TTL_S": "30",
            "TUNELINE_LOG_LEVEL": "INFO",
            **env,
        }
        self.log_path = self.folder / "trainer.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Trainer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "services.trainer"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"trainer exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"trainer did not answer:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-6000:]

    def job_log(self, run_id: str) -> str:
        path = Path(self.env["TUNELINE_TRAINER_WORK_DIR"]) / run_id / "job.log"
        return path.read_text(errors="replace")[-8000:] if path.exists() else "(no job log)"


def wait_for_state(
    client: httpx.Client, run_id: str, states: set[str], timeout_s: float, trainer: Trainer
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/trainings/{run_id}")
        assert response.status_code == 200, response.text
        run = response.json()
        if run["state"] in states:
            return run
        time.sleep(1)
    raise AssertionError(
        f"run {run_id} still {run.get('state')}:\n{trainer.log()}\n{trainer.job_log(run_id)}"
    )
