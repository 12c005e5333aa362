"""Features end to end (issue 13, "Feature extraction"): raw records through the real sanitizer worker
(Faust, real broker) and the real writer into the DynamoDB-compatible server.

The policy is the shipped one with one filter on, ``filters.languages: [en]``: the English records come
out with their features and are stored with them; the German ticket is dropped, counted on /metrics as
``filtered:lang`` and never reaches the sanitized topic nor the table. The trainer's snapshot then
selects by feature (only question/answer pairs).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from boto3.dynamodb.types import TypeDeserializer
from confluent_kafka import Producer

from libs.common.kafka import plaintext_settings, producer_config
from libs.schemas import FeatureSelection, SanitizedRecord, Structure, Table, decode, table_name
from libs.storage.items import item_features
from libs.storage.snapshot import SnapshotReader
from tests.integration.pipeline_helpers import ROOT, ServiceProcess, TopicReader, sanitizer_env
from tests.integration.writer_helpers import running_writer, wait_until_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = dt.datetime.now(dt.UTC).isoformat()


def _ticket(number: int, subject: str, question: str, answer: str) -> dict[str, Any]:
    return {
        "id": f"support:feat-{number}",
        "source": "support",
        "kind": "sql",
        "content": f"{subject}\n\n{question}\n\n{answer}",
        "fields": {"id": number, "subject": subject, "question": question, "answer": answer},
        "metadata": {"table": "tickets", "key": {"id": number}},
        "collected_at": NOW,
    }


RECORDS = [
    _ticket(
        1,
        "Printer jammed on the third floor",
        "The printer on the third floor has been jammed since this morning and the error light keeps "
        "blinking. What should we do?",
        "Open the rear cover, remove the torn sheet and close it again; the light turns green within a "
        "minute. If it keeps blinking, send us the code shown on the display.",
    ),
    _ticket(
        2,
        "VPN drops every hour",
        "My VPN connection drops every hour on the hour, and I have to log in again each time. Is this "
        "expected?",
        "No. The client renews its certificate hourly; update it to version 4.2, which keeps the session "
        "open while the certificate is renewed.",
    ),
    _ticket(
        3,
        "Drucker im dritten Stock blockiert",
        "Der Drucker im dritten Stock ist seit heute Morgen blockiert und die Fehlerleuchte blinkt immer "
        "noch. Was sollen wir tun?",
        "Öffnen Sie die hintere Abdeckung, entfernen Sie das zerrissene Blatt und schließen Sie sie wieder; "
        "die Leuchte wird innerhalb einer Minute grün.",
    ),
    {
        "id": "app-logs:feat-4",
        "source": "app-logs",
        "kind": "log",
        "content": "[checkout] payment provider timeout after 30000ms for order 48151623; retry 2 of 3",
        "fields": {"ts": "2026-01-05T10:00:00Z", "level": "WARN"},
        "metadata": {"path": "/var/log/app.log", "offset": 0},
        "collected_at": NOW,
    },
]
ENGLISH = {"support:feat-1", "support:feat-2", "app-logs:feat-4"}


def test_features_stored_and_a_language_filter_drops_end_to_end(
    kafka_bootstrap: str,
    make_topic: Callable[..., str],
    dynamodb_client: Any,
    table_prefix: str,
    services: list[ServiceProcess],
    unique_id: str,
    consumer_group: str,
    tmp_path: Path,
) -> None:
    policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
    policy["filters"]["languages"] = ["en"]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    raw, sanitized = make_topic("raw-features"), make_topic("sanitized", partitions=2)
    producer = Producer(producer_config(plaintext_settings(kafka_bootstrap)))
    for value in RECORDS:
        producer.produce(raw, key=value["id"].encode(), value=json.dumps(value).encode())
    assert producer.flush(30) == 0

    env = sanitizer_env(
        kafka_bootstrap,
        unique_id,
        tmp_path / "faust",
        app_id=f"test-features-{unique_id}",
        config_file=str(policy_file),
        input_topics=json.dumps([raw]),
        by_hash_topic=make_topic("by-hash", partitions=2),
        output_topic=sanitized,
        dlq_topic=make_topic("sanitizer-dlq"),
    )
    sanitizer = ServiceProcess("sanitizer", env, tmp_path / "sanitizer.log", tmp_path).start()
    services.append(sanitizer)
    reader = TopicReader(kafka_bootstrap, sanitized, consumer_group + "-read")
    try:
        reader.until(lambda: len(reader.messages) >= len(ENGLISH), 240, sanitizer)
        reader.until(lambda: False, 5, sanitizer)  # nothing more arrives
    finally:
        reader.close()

    records = {r.id: r for r in (decode(SanitizedRecord, value) for _, value in reader.messages)}
    assert set(records) == ENGLISH, sanitizer.log()[-3000:]
    for record in records.values():
        assert record.features is not None and record.features.lang == "en"
        assert record.features.tokens is not None and record.features.tokens > 10
    assert records["support:feat-1"].features.structure is Structure.QA  # type: ignore[union-attr]
    assert records["app-logs:feat-4"].features.structure is Structure.LOG  # type: ignore[union-attr]

    port = env["TUNELINE_SANITIZER_HTTP_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'tuneline_sanitizer_dropped_total{reason="filtered:lang"} 1.0' in metrics
    assert 'tuneline_sanitizer_stage_seconds_count{stage="features"}' in metrics

    # The writer stores them with their features.
    with running_writer(
        kafka_bootstrap, dynamodb_client, table_prefix, sanitized, make_topic("writer-dlq"), consumer_group
    ) as failure:
        wait_until_committed(kafka_bootstrap, consumer_group, sanitized, 2, timeout_s=120)
    assert failure == []
    table = table_name(Table.RECORDS, table_prefix)
    deserialize = TypeDeserializer().deserialize
    for record_id, record in records.items():
        item = dynamodb_client.get_item(TableName=table, Key={"id": {"S": record_id}})["Item"]
        plain = {key: deserialize(value) for key, value in item.items()}
        assert item_features(plain) == record.features
    german = dynamodb_client.get_item(TableName=table, Key={"id": {"S": "support:feat-3"}})
    assert "Item" not in german

    # The trainer's snapshot selects by feature.
    reader_ = SnapshotReader(dynamodb_client, table_prefix, shards=8)
    watermark = int(time.time() * 1000) + 60_000
    everything = {r.id for r in reader_.read("support", watermark)}
    assert everything == {"support:feat-1", "support:feat-2"}
    qa = {r.id for r in reader_.read("logs", watermark, FeatureSelection(structures=[Structure.QA]))}
    assert qa == set()
    logs = list(reader_.read("logs", watermark, FeatureSelection(structures=[Structure.LOG])))
    assert [r.id for r in logs] == ["app-logs:feat-4"] and logs[0].features == records[
        "app-logs:feat-4"
    ].features
