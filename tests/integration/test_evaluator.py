"""The evaluator on real servers: TrainingCompleted on Kafka -> evaluation -> EvaluationCompleted,
the report beside the model and in DynamoDB, the production alias moved (or not). Runs are recorded and
announced through the trainer's own run store and announcer; a forged event is dead-lettered, and an
announcement lost after the outcome was recorded is sent by the trainer's outbox sweeper."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from confluent_kafka import Consumer, Producer

from libs.common.kafka import client_config, consumer_config, plaintext_settings
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.registry import ModelRegistry
from libs.schemas import DeadLetter, RunStatus, TrainingCompleted
from libs.storage.tables import init_tables
from services.trainer.adapters.dynamodb import DynamoRunStore
from tests.integration.pipeline_helpers import read_json_until_idle
from tests.integration.trainer_helpers import Trainer, announce, finish_run
from tests.unit.evaluator import tiny_models as T

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

DATASET = "general"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("evaluator-models")
    train, _ = T.split(T.corpus())
    model, tokenizer = T.new_model(train)
    texts = T.rendered(train, tokenizer)
    T.train(model, tokenizer, texts, steps=10)
    base = T.save(model, tokenizer, root / "base-model")
    T.train(model, tokenizer, texts, steps=150, seed=1)
    now = dt.datetime.now(dt.UTC)
    tuned = T.publish(model, tokenizer, base, root / "store" / "run-tuned", "general-tuned", DATASET, now)
    lost = T.publish(model, tokenizer, base, root / "store" / "run-lost", "general-lost", DATASET, now)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(3)
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.5 * param.std())
    degraded = T.publish(
        model, tokenizer, base, root / "store" / "run-degraded", "general-degraded", DATASET, now
    )
    torch.set_num_threads(threads)
    return {"tuned": tuned, "degraded": degraded, "lost": lost}


@pytest.fixture
def evaluator(
    tmp_path: Path, kafka_bootstrap: str, dynamodb_endpoint: str, dynamodb_client: Any, table_prefix: str,
    unique_id: str,
) -> Iterator[dict[str, str]]:  # fmt: skip
    init_tables(dynamodb_client, table_prefix)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_EVALUATOR_EVENTS_TOPIC": f"training.events.{unique_id}",
        "TUNELINE_EVALUATOR_DLQ_TOPIC": f"evaluator.dlq.{unique_id}",
        "TUNELINE_EVALUATOR_GROUP_ID": f"evaluator-{unique_id}",
        "TUNELINE_EVALUATOR_HTTP_PORT": str(free_port()),
        "TUNELINE_EVALUATOR_WORK_DIR": str(tmp_path / "work"),
        "OMP_NUM_THREADS": "1",
    }
    log_path = tmp_path / "evaluator.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.evaluator"], env=env, stdout=log, stderr=subprocess.STDOUT
        )  # noqa: S603
    yield {**env, "LOG": str(log_path)}
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def send(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    producer = Producer(client_config(plaintext_settings(bootstrap)))
    producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def wait_for(bootstrap: str, topic: str, match: Any, log: str, timeout_s: float = 300) -> dict[str, Any]:
    consumer = Consumer(consumer_config(plaintext_settings(bootstrap), f"t-{time.monotonic_ns()}"))
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            value: dict[str, Any] = json.loads(msg.value() or b"null")
            if match(value):
                return value
    finally:
        consumer.close()
    raise AssertionError(f"nothing matched on {topic}:\n{Path(log).read_text()[-5000:]}")


def forged(run_id: str, model: Path | str) -> bytes:
    """A TrainingCompleted that anyone with write access to the topic could send."""
    event = TrainingCompleted(
        run_id=run_id, dataset=DATASET, occurred_at=dt.datetime.now(dt.UTC), status=RunStatus.SUCCEEDED,
        base_model="tuneline/tiny-llama", model_uri=str(model), record_count=1,
    )  # fmt: skip
    return event.model_dump_json().encode()


def test_training_completed_leads_to_an_evaluation_and_a_promotion_only_when_better(
    models: dict[str, Path], evaluator: dict[str, str], kafka_bootstrap: str, dynamodb_client: Any,
    table_prefix: str,
) -> None:  # fmt: skip
    topic, dlq, log = (
        evaluator["TUNELINE_EVALUATOR_EVENTS_TOPIC"],
        evaluator["TUNELINE_EVALUATOR_DLQ_TOPIC"],
        evaluator["LOG"],
    )
    registry = ModelRegistry(dynamodb_client, table_prefix)

    # A better model than its base: promoted, reported, announced.
    tuned = finish_run(dynamodb_client, table_prefix, "general-tuned", DATASET, str(models["tuned"]))
    announce(dynamodb_client, table_prefix, tuned, kafka_bootstrap, topic)
    done = wait_for(
        kafka_bootstrap,
        topic,
        lambda v: v.get("type") == "evaluation.completed" and v["run_id"] == "general-tuned",
        log,
    )
    assert done["decision"] == "promoted", done
    assert {g["name"] for g in done["gates"]} and all(g["passed"] for g in done["gates"])
    promoted = wait_for(kafka_bootstrap, topic, lambda v: v.get("type") == "model.promoted", log)
    assert promoted["run_id"] == "general-tuned" and promoted["previous_run_id"] is None
    production = registry.production(DATASET)
    assert production is not None and production.run_id == "general-tuned"
    stored = registry.evaluation("general-tuned")
    assert stored is not None and stored["decision"] == "promoted"
    assert (models["tuned"] / "evaluation" / "evaluation.md").exists()
    assert (models["tuned"] / "evaluation" / "charts" / "training_loss.png").exists()

    # Garbage on the topic goes to the dead-letter topic with a reason; the worker keeps going.
    send(kafka_bootstrap, topic, "junk", b'{"type": "training.completed", "run_id": 7}')
    letter = DeadLetter.model_validate(wait_for(kafka_bootstrap, dlq, lambda v: True, log))
    assert (letter.reason, letter.service, letter.source_topic) == ("unreadable_event", "evaluator", topic)
    assert letter.detail.startswith("TrainingEvent.training.completed.run_id")
    assert letter.key is not None and letter.key.raw() == b"junk"
    assert letter.value is not None and letter.value.raw() == b'{"type": "training.completed", "run_id": 7}'

    # Forged events: a run nobody recorded, and a recorded run with another model than its own (a copy
    # of the promoted model, a path the attacker controls). Dead-lettered with the reason, not evaluated.
    degraded = finish_run(dynamodb_client, table_prefix, "general-degraded", DATASET, str(models["degraded"]))
    send(kafka_bootstrap, topic, "general-forged", forged("general-forged", models["tuned"]))
    letter = DeadLetter.model_validate(
        wait_for(kafka_bootstrap, dlq, lambda v: v["reason"] == "unknown_run", log)
    )
    assert letter.detail == "no run 'general-forged' in the runs table"
    send(kafka_bootstrap, topic, "general-degraded", forged("general-degraded", models["tuned"]))
    letter = DeadLetter.model_validate(
        wait_for(kafka_bootstrap, dlq, lambda v: v["reason"] == "event_disagrees_with_run", log)
    )
    assert f"model_uri: event '{models['tuned']}', recorded '{models['degraded']}'" in letter.detail
    assert letter.key is not None and letter.key.raw() == b"general-degraded"
    assert registry.evaluation("general-forged") is None and registry.evaluation("general-degraded") is None
    production = registry.production(DATASET)
    assert production is not None and production.run_id == "general-tuned" and len(production.history) == 1

    # The degraded model's own announcement, now against the promoted one: rejected, production stays.
    announce(dynamodb_client, table_prefix, degraded, kafka_bootstrap, topic)
    done = wait_for(
        kafka_bootstrap,
        topic,
        lambda v: v.get("type") == "evaluation.completed" and v["run_id"] == "general-degraded",
        log,
    )
    assert done["decision"] == "rejected"
    assert any(not g["passed"] for g in done["gates"])
    production = registry.production(DATASET)
    assert production is not None and production.run_id == "general-tuned"
    rejected = registry.evaluation("general-degraded")
    assert rejected is not None and rejected["report"]["production"]["uri"] == str(models["tuned"])


def test_an_announcement_lost_after_the_outcome_was_recorded_is_sent_by_the_outbox_and_evaluated(
    models: dict[str, Path], evaluator: dict[str, str], kafka_bootstrap: str, dynamodb_client: Any,
    table_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    topic, log = evaluator["TUNELINE_EVALUATOR_EVENTS_TOPIC"], evaluator["LOG"]
    # The trainer recorded the outcome, then its TrainingCompleted never reached the broker.
    finish_run(dynamodb_client, table_prefix, "general-lost", DATASET, str(models["lost"]))
    runs = DynamoRunStore(dynamodb_client, table_prefix)
    env = {
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": evaluator["TUNELINE_DYNAMODB_ENDPOINT"],
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "TUNELINE_MODEL_STORE": str(tmp_path / "models"),
        "TUNELINE_TRAINER_WORK_DIR": str(tmp_path / "runs"),
        "TUNELINE_TRAINER_EVENTS_TOPIC": topic,
        "TUNELINE_TRAINER_CREATE_TABLES": "false",
        "TUNELINE_TRAINER_ANNOUNCE_SWEEP_S": "1",
    }
    trainer = Trainer(tmp_path, "trainer", env, {"datasets": [{"name": DATASET, "schedule": False}]}).start()
    try:
        done = wait_for(
            kafka_bootstrap,
            topic,
            lambda v: v.get("type") == "evaluation.completed" and v["run_id"] == "general-lost",
            log,
        )
        assert done["decision"] == "promoted", done
        run = runs.get("general-lost")
        assert run is not None and run.announced is True, trainer.log()
        time.sleep(3)  # three more sweeps: nothing is announced twice
    finally:
        trainer.stop()
    announced = [
        v for v in read_json_until_idle(kafka_bootstrap, topic)
        if v.get("type") == "training.completed" and v["run_id"] == "general-lost"
    ]  # fmt: skip
    assert len(announced) == 1 and announced[0]["model_uri"] == str(models["lost"])
    production = ModelRegistry(dynamodb_client, table_prefix).production(DATASET)
    assert production is not None and production.run_id == "general-lost"
