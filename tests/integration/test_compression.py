"""Every consumer reads every codec a producer may use (issue 11, "Compression").

The collector compresses with lz4 by default; the sanitizer's aiokafka needs cramjam for lz4, snappy
and zstd (gzip is in the standard library) and without it died on the collector's first batch with
``UnsupportedCodecError``. The first test runs the real collector with its default settings into the
real sanitizer worker; the second produces one batch per codec into one raw topic and checks that the
sanitizer and a confluent-kafka consumer (the client of the writer, trainer and evaluator) read them all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from benchmarks.sanitizer_data import generate
from libs.common.kafka import client_config, plaintext_settings
from libs.schemas import SanitizedRecord, decode, raw_topic
from services.collector.settings import CollectorSettings
from tests.integration.collector_helpers import Collector, Message, read_all
from tests.integration.pipeline_helpers import ServiceProcess, TopicReader, sanitizer_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CODECS = ("lz4", "zstd", "snappy", "gzip")


@pytest.fixture
def sanitizer_topics(make_topic: Callable[..., str]) -> dict[str, str]:
    return {
        "by_hash_topic": make_topic("by-hash", partitions=2),
        "output_topic": make_topic("sanitized", partitions=2),
        "dlq_topic": make_topic("sanitizer-dlq"),
    }


def test_collector_with_default_settings_into_the_sanitizer(
    kafka_bootstrap: str,
    kafka_admin: AdminClient,
    make_collector: Callable[[list[dict[str, object]]], Collector],
    sanitizer_topics: dict[str, str],
    services: list[ServiceProcess],
    unique_id: str,
    consumer_group: str,
    tmp_path: Path,
) -> None:
    assert CollectorSettings().compression == "lz4"  # what "default settings" means below
    emails = [f"agent.{i}.{unique_id}@example-helpdesk.com" for i in range(12)]
    log_file = tmp_path / "app.log"
    log_file.write_text(
        "".join(
            f"2026-01-05T10:00:{i:02d}Z ERROR ticket HD-{4100 + i}: export of invoice INV-{7919 * i} "
            f"failed with code E{1200 + i}; reply sent to {email} after retry number {i}\n"
            for i, email in enumerate(emails)
        )
    )
    source = f"codec-{unique_id}"
    topic = raw_topic(source)
    collector = make_collector([{"kind": "log", "name": source, "paths": [str(log_file)]}]).start()
    sanitizer = ServiceProcess(
        "sanitizer",
        sanitizer_env(
            kafka_bootstrap,
            unique_id,
            tmp_path / "faust",
            app_id=f"test-codec-{unique_id}",
            input_topics=json.dumps([topic]),
            **sanitizer_topics,
        ),
        tmp_path / "sanitizer.log",
        tmp_path,
    )
    services.append(sanitizer)
    reader = TopicReader(kafka_bootstrap, sanitizer_topics["output_topic"], consumer_group)
    try:
        deadline = time.monotonic() + 120
        raw: list[Message] = []
        while len(raw) < len(emails) and time.monotonic() < deadline:
            assert collector.alive(), collector.log()[-3000:]
            time.sleep(0.5)
            raw = read_all(kafka_bootstrap, topic)
        ids = {m.key for m in raw}
        assert len(ids) == len(emails), collector.log()[-3000:]
        sanitizer.start()
        reader.until(lambda: {k.decode() for k, _ in reader.messages} >= ids, 240, sanitizer)
    finally:
        reader.close()
        collector.stop()
        kafka_admin.delete_topics([topic])

    records = [decode(SanitizedRecord, value) for _, value in reader.messages]
    assert {r.id for r in records} == ids, sanitizer.log()[-3000:]
    out = b"\n".join(value for _, value in reader.messages).decode()
    assert [e for e in emails if e in out] == []
    assert all(r.pii.get("EMAIL") == 1 and "<EMAIL_" in r.content for r in records)
    assert "UnsupportedCodecError" not in sanitizer.log()


def test_sanitizer_and_confluent_consumers_read_every_codec(
    kafka_bootstrap: str,
    make_topic: Callable[..., str],
    sanitizer_topics: dict[str, str],
    services: list[ServiceProcess],
    unique_id: str,
    consumer_group: str,
    tmp_path: Path,
) -> None:
    topic = make_topic("raw-codecs")
    samples = generate(8 * len(CODECS), seed=11, dup_rate=0.0, near_rate=0.0)
    by_codec = {codec: samples[i :: len(CODECS)] for i, codec in enumerate(CODECS)}
    for codec, batch in by_codec.items():
        producer = Producer(
            client_config(plaintext_settings(kafka_bootstrap), {"compression.type": codec, "linger.ms": 50})
        )
        for sample in batch:
            producer.produce(topic, key=sample.id.encode(), value=json.dumps(sample.raw_record()).encode())
        assert producer.flush(30) == 0

    # confluent-kafka (writer, trainer, evaluator): librdkafka has every codec built in.
    assert sorted(m.key for m in read_all(kafka_bootstrap, topic)) == sorted(s.id for s in samples)

    sanitizer = ServiceProcess(
        "sanitizer",
        sanitizer_env(
            kafka_bootstrap,
            unique_id,
            tmp_path / "faust",
            app_id=f"test-codecs-{unique_id}",
            input_topics=json.dumps([topic]),
            **sanitizer_topics,
        ),
        tmp_path / "sanitizer.log",
        tmp_path,
    ).start()
    services.append(sanitizer)
    reader = TopicReader(kafka_bootstrap, sanitizer_topics["output_topic"], consumer_group)
    try:
        reader.until(lambda: len(reader.messages) >= len(samples), 240, sanitizer)
    finally:
        reader.close()
    out_ids = {decode(SanitizedRecord, value).id for _, value in reader.messages}
    for codec, batch in by_codec.items():
        missing = {s.id for s in batch} - out_ids
        assert not missing, f"{codec}: {len(missing)} records never came out\n{sanitizer.log()[-3000:]}"
