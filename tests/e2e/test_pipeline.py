"""The main job end to end, at a smaller scale than ``make demo``: the example systems, the six
services as processes on the session's real Kafka and DynamoDB-compatible server, the real pre-trained
base model, one threshold run, the evaluator's decision, the promoted model served.

What a user relies on, checked on what the pipeline actually wrote:
- every unique source record is stored exactly once (nothing lost, nothing twice);
- no planted personal value or secret reaches the sanitized topic, DynamoDB, or the model's generations;
- exactly one threshold run, decided and reported;
- lineage leads from the model back to a source row;
- the model server loads the promoted model and answers through the OpenAI API.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from confluent_kafka import Consumer, TopicPartition

from examples import held_out_questions
from examples.demo.answers import generate_answers
from examples.demo.pipeline import SMALL, DemoPipeline, DemoResult, Infra
from examples.people import PlantedKind
from libs.common.kafka import client_config, plaintext_settings
from libs.schemas import RecordFeatures, Structure
from libs.schemas.names import Table
from libs.storage.items import item_features

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes]]:
    """Every message of a topic, from the beginning to the end offsets read before consuming."""
    consumer = Consumer(
        client_config(
            plaintext_settings(bootstrap),
            {"group.id": f"e2e-{uuid.uuid4().hex}", "enable.auto.commit": False},
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
        consumer.assign(partitions)
        out: list[tuple[str, bytes]] = []
        done = {p for p, end in ends.items() if end == 0}
        while len(done) < len(ends):
            msg = consumer.poll(5.0)
            if msg is None or msg.error():
                continue
            out.append(((msg.key() or b"").decode(), msg.value() or b""))
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if offset + 1 >= ends[partition]:
                done.add(partition)
        return out
    finally:
        consumer.close()


def scan_table(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


@pytest.fixture(scope="module")
def demo(
    kafka_bootstrap: str, dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DemoPipeline, DemoResult]]:
    workdir = tmp_path_factory.mktemp("demo")
    namespace = f"e2e{uuid.uuid4().hex[:8]}"
    with DemoPipeline(
        workdir, SMALL, infra=Infra(kafka_bootstrap, dynamodb_endpoint), namespace=namespace
    ) as p:
        result = p.run_to_decision(timeout_s=1500)
        p.drain()
        yield p, result


def test_every_unique_source_record_is_stored_exactly_once(
    demo: tuple[DemoPipeline, DemoResult], kafka_bootstrap: str, dynamodb_client: Any
) -> None:
    pipeline, _ = demo
    raw_ids: dict[str, set[str]] = {}
    for topic in pipeline.raw_topics():
        for key, value in read_topic(kafka_bootstrap, topic):
            raw_ids.setdefault(json.loads(value)["source"], set()).add(key)
    sanitized = read_topic(kafka_bootstrap, pipeline.topics.sanitized)
    stored = scan_table(dynamodb_client, pipeline.table(Table.RECORDS))
    stored_ids = [item["id"]["S"] for item in stored]
    view = pipeline.view()
    collected = set().union(*raw_ids.values())

    assert set(raw_ids) == {"support", "app-logs", "wiki"}
    assert len(stored_ids) == len(set(stored_ids))
    assert set(stored_ids) == {key for key, _ in sanitized}  # everything the sanitizer passed is stored
    assert set(stored_ids) <= collected
    # Every collected record is stored, or was counted out (duplicate, filter) or dead-lettered.
    assert len(collected) == len(stored_ids) + sum(view.dropped.values()) + view.sanitizer_dead_letters
    # The help desk: every ticket row is collected once, and exactly the planted copies are dropped.
    systems = pipeline.systems
    assert len(raw_ids["support"]) == systems.expected_records()["support"]
    stored_support = [i for i in stored if i["source"]["S"] == "support"]
    assert len(stored_support) == systems.unique_tickets()


def test_stored_records_carry_their_features(
    demo: tuple[DemoPipeline, DemoResult], dynamodb_client: Any
) -> None:
    """The sanitizer's feature step reaches DynamoDB: every stored record has its language, token count
    under the training tokenizer and structure, as the trainer's snapshot selection reads them."""
    pipeline, _ = demo
    deserialize = TypeDeserializer().deserialize
    by_source: dict[str, list[RecordFeatures]] = {}
    for raw in scan_table(dynamodb_client, pipeline.table(Table.RECORDS)):
        item = {key: deserialize(value) for key, value in raw.items()}
        features = item_features(item)
        assert features is not None, f"{item['id']} stored without features"
        by_source.setdefault(item["source"], []).append(features)

    assert set(by_source) == {"support", "app-logs", "wiki"}
    tickets = by_source["support"]
    assert {f.structure for f in tickets} == {Structure.QA}  # every help-desk ticket is a Q/A pair
    assert {f.lang for f in tickets} == {"en"}
    assert {f.structure for f in by_source["app-logs"]} == {Structure.LOG}
    every = [f for features in by_source.values() for f in features]
    assert all(f.tokens is not None and f.tokens > 0 for f in every)  # the training tokenizer counted them
    assert all(0.0 <= f.quality <= 1.0 for f in every)


def test_no_planted_personal_value_or_secret_leaves_the_sanitizer(
    demo: tuple[DemoPipeline, DemoResult], kafka_bootstrap: str, dynamodb_client: Any
) -> None:
    pipeline, result = demo
    planted = pipeline.systems.planted_values()
    assert len(planted) > 50
    messages = [v for _, v in read_topic(kafka_bootstrap, pipeline.topics.sanitized)]
    items = scan_table(dynamodb_client, pipeline.table(Table.RECORDS))
    sanitized = "\n".join(v.decode() for v in messages)
    stored = json.dumps(items)
    questions = [q.question for q in held_out_questions()]
    generations = "\n".join(generate_answers(str(result.run.model_uri), questions, max_new_tokens=64))
    for where, text in (("sanitized topic", sanitized), ("DynamoDB", stored), ("generations", generations)):
        leaked = sorted(value for value in planted if value in text)
        assert not leaked, f"{len(leaked)} planted values in the {where}, e.g. {leaked[:3]}"
    # First names written alone ("Hi Mei,", "Thanks,\nMei"), matched as whole words.
    first_names = [PlantedKind.FIRST_NAME]
    assert pipeline.systems.planted_values(first_names)
    for where, data in (
        ("sanitized topic", [json.loads(v) for v in messages]),
        ("DynamoDB", items),
    ):
        alone = sorted({p.value for p in pipeline.systems.leaks(data, first_names)})
        assert not alone, f"{len(alone)} first names written alone in the {where}, e.g. {alone[:3]}"
    # The raw topics do hold them: the checks above would have found them, had the sanitizer let them by.
    raw = "\n".join(
        v.decode(errors="replace") for t in pipeline.raw_topics() for _, v in read_topic(kafka_bootstrap, t)
    )
    assert sum(value in raw for value in planted) > len(planted) // 2


def test_exactly_one_threshold_run_decided_and_reported(demo: tuple[DemoPipeline, DemoResult]) -> None:
    pipeline, result = demo
    threshold_runs = [r for r in pipeline.runs() if r["reason"] == "threshold"]
    assert [r["run_id"] for r in threshold_runs] == [result.run.run_id]
    assert result.run.state == "succeeded" and result.run.max_steps > 0
    evaluation = result.evaluation
    report = evaluation["report"]
    report_dir = Path(str(result.run.model_uri)) / "evaluation"
    assert (report_dir / "evaluation.json").is_file() and (report_dir / "evaluation.md").is_file()
    assert evaluation["decision"] == "promoted", report["summary"]
    assert (
        report["candidate"]["metrics"]["overall"]["loss"] < report["production"]["metrics"]["overall"]["loss"]
    )


def test_lineage_leads_from_the_model_to_a_source_row(demo: tuple[DemoPipeline, DemoResult]) -> None:
    pipeline, result = demo
    env = {**os.environ, **pipeline.service_env("trainer")}
    cli = [sys.executable, "-m", "services.cli", "lineage"]

    def lineage(*args: str) -> Any:
        done = subprocess.run([*cli, *args, "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    model = lineage(result.run.run_id, "--records")
    assert model["records_verified"] and len(model["records"]) == result.run.record_count
    record = lineage("--record", model["records"][0]["id"])
    assert [m["run_id"] for m in record["models"]] == [result.run.run_id]
    assert record["kind"] == "sql" and record["metadata"]["table"] == "tickets"
    key = record["metadata"]["key"]["id"]
    db = str(pipeline.systems.helpdesk.url).removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT question FROM tickets WHERE id = ?", (key,)).fetchone()
    assert row is not None


def test_the_promoted_model_answers_through_the_openai_api(demo: tuple[DemoPipeline, DemoResult]) -> None:
    pipeline, result = demo
    question = held_out_questions()[0][0]
    served = pipeline.ask_served_model(question, result.run.run_id, timeout_s=300)
    assert served.model == f"support:{result.run.run_id}"
    assert served.completion_tokens > 0 and served.answer.strip()
    print(f"\nserved ({served.completion_tokens} tokens, {served.seconds:.1f} s): {served.answer[:200]}")
