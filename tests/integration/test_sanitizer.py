"""The sanitizer service as a real Faust worker against the real broker.

Raw records with exact copies (disguised so only normalization finds them) and planted PII go in;
each unique record comes out, no planted value appears anywhere in the sanitized topic (nor in the
worker's log), and bad input lands in the dead-letter topic with its reason while the stream goes on.
The second test kills the worker mid-stream and restarts it: nothing is lost. The third has the broker
refuse a dead letter: the worker stops without committing, and once restarted the dead letter arrives.
The worker logs at DEBUG, so the log checks also cover Faust's and aiokafka's loggers, which would
print message values at that level if the service did not keep them at WARNING.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from benchmarks.sanitizer_data import Sample, generate
from libs.common.kafka import consumer_config, plaintext_settings, producer_config
from libs.devstack.servers import free_port
from libs.schemas import DeadLetter, RawRecord, SanitizedRecord, decode

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
WORKER = Path(__file__).with_name("sanitizer_worker.py")
MAX_RECORD_BYTES = 8192


@dataclass
class Topics:
    raw: str
    by_hash: str
    sanitized: str
    dlq: str


@pytest.fixture
def topics(make_topic: Callable[..., str]) -> Topics:
    return Topics(
        raw=make_topic("raw-support"),
        by_hash=make_topic("by-hash", partitions=2),
        sanitized=make_topic("sanitized", partitions=2),
        dlq=make_topic("sanitized-dlq"),
    )


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.env, self.log_path, self.cwd = env, log_path, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker(kafka_bootstrap: str, topics: Topics, unique_id: str, tmp_path: Path) -> Iterator[Worker]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_LOG_LEVEL": "DEBUG",  # Faust/mode/aiokafka must stay at WARNING anyway
        "TUNELINE_SANITIZER_PSEUDONYM_KEY": "integration-test-key-" + unique_id * 3,
        "TUNELINE_SANITIZER_CONFIG_FILE": str(ROOT / "config" / "sanitizer.yaml"),
        "TUNELINE_SANITIZER_APP_ID": f"test-sanitizer-{unique_id}",
        "TUNELINE_SANITIZER_INPUT_TOPICS": json.dumps([topics.raw]),
        "TUNELINE_SANITIZER_BY_HASH_TOPIC": topics.by_hash,
        "TUNELINE_SANITIZER_OUTPUT_TOPIC": topics.sanitized,
        "TUNELINE_SANITIZER_DLQ_TOPIC": topics.dlq,
        "TUNELINE_SANITIZER_PARTITIONS": "2",
        "TUNELINE_SANITIZER_STORE": "memory://",  # the table comes back from its changelog on restart
        "TUNELINE_SANITIZER_DATADIR": str(tmp_path / "faust"),
        "TUNELINE_SANITIZER_HTTP_PORT": str(free_port()),
        "TUNELINE_SANITIZER_FAUST_WEB_PORT": str(free_port()),
        "TUNELINE_SANITIZER_SESSION_TIMEOUT_S": "8",
        "TUNELINE_SANITIZER_MAX_RECORD_BYTES": str(MAX_RECORD_BYTES),
    }
    w = Worker(env, tmp_path / "worker.log", tmp_path)
    yield w
    w.stop()


def _raw(sample: Sample, source: str = "support") -> bytes:
    record = sample.raw_record()
    record["source"] = source
    return json.dumps(record).encode()


def _bad_messages() -> list[tuple[bytes, str]]:
    poison = {
        "id": "poison-1",
        "source": "support",
        "kind": "log",
        "content": "status of Zorblax POISON-PILL today",
        "collected_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    oversize = dict(poison, id="big-1", content="x " * MAX_RECORD_BYTES)
    return [
        (b"this is not json", "not_json"),
        (b'{"id": "no-source", "kind": "log"}', "invalid_record"),
        (json.dumps(oversize).encode(), "oversize"),
        (json.dumps(poison).encode(), "recognizer_error"),
    ]


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(plaintext_settings(bootstrap)))
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


class Drain:
    """Reads a topic from the start and keeps every message."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.consumer = Consumer(consumer_config(plaintext_settings(bootstrap), group))
        self.consumer.subscribe([topic])
        self.messages: list[tuple[bytes, dict[str, bytes]]] = []

    def until(self, done: Callable[[], bool], worker: Worker, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            assert worker.alive(), f"worker died:\n{worker.log()[-4000:]}"
            msg = self.consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                value = msg.value()
                assert isinstance(value, bytes)
                raw = msg.headers() or []
                pairs = raw.items() if isinstance(raw, dict) else raw
                headers = {k: v for k, v in pairs if isinstance(v, bytes)}
                self.messages.append((value, headers))

    def close(self) -> None:
        self.consumer.close()


def _certain(samples: list[Sample]) -> list[Sample]:
    """Records whose every planted value the detector is built to catch for certain. A lone first
    name without a cue depends on the NER model (recall ~0.95, measured by the quality benchmark),
    so records with one are left out here: this test checks the stream, not the model."""
    by_id = {s.id: s for s in samples}

    def lone_name(s: Sample) -> bool:
        origin = by_id.get(s.duplicate_of or "", s)
        return any(p.entity == "PERSON" and " " not in origin.text[p.start : p.end] for p in origin.planted)

    return [s for s in samples if not lone_name(s)]


def _planted_values(samples: list[Sample]) -> set[str]:
    return {s.text[p.start : p.end] for s in samples for p in s.planted}


def test_unique_records_out_once_no_pii_and_dead_letters(
    kafka_bootstrap: str, topics: Topics, worker: Worker, consumer_group: str
) -> None:
    samples = _certain(generate(70, seed=5, dup_rate=0.25, near_rate=0.0))
    uniques = [s for s in samples if s.duplicate_of is None]
    assert len(uniques) < len(samples)  # there are copies to remove
    bad = _bad_messages()
    messages = [(s.id.encode(), _raw(s)) for s in samples[:30]] + [(b"bad", value) for value, _ in bad]
    messages += [(s.id.encode(), _raw(s)) for s in samples[30:]]
    _produce(kafka_bootstrap, topics.raw, messages)

    worker.start()
    out = Drain(kafka_bootstrap, topics.sanitized, consumer_group)
    dlq = Drain(kafka_bootstrap, topics.dlq, consumer_group + "-dlq")
    try:
        out.until(lambda: len(out.messages) >= len(uniques), worker, 240)
        dlq.until(lambda: len(dlq.messages) >= len(bad), worker, 60)
        out.until(lambda: False, worker, 5)  # nothing more arrives
    finally:
        out.close()
        dlq.close()

    records = [decode(SanitizedRecord, value) for value, _ in out.messages]
    assert sorted(r.id for r in records) == sorted(s.id for s in uniques), worker.log()[-3000:]
    everything = b"\n".join(value for value, _ in out.messages).decode()
    leaked = [v for v in _planted_values(uniques) if v in everything]
    assert leaked == []
    by_id = {s.id: s for s in uniques}
    for record in records:
        assert record.dataset == "support" and len(record.content_hash) == 32
        assert sum(record.pii.values()) >= len(by_id[record.id].planted) > 0 or not by_id[record.id].planted
        assert record.metadata["pseudonym_key_id"] == "k1"

    reasons = sorted(headers["reason"].decode() for _, headers in dlq.messages)
    assert reasons == sorted(reason for _, reason in bad)
    for value, headers in dlq.messages:
        letter = decode(DeadLetter, value)
        assert letter.reason == headers["reason"].decode() and letter.source_topic == topics.raw
        assert letter.service == "sanitizer" and headers["service"] == b"sanitizer"
        assert letter.value is not None
        original = next(value for value, reason in bad if reason == letter.reason)
        if letter.reason == "recognizer_error":  # stage 2 keeps the normalized record it failed on
            assert decode(RawRecord, letter.value.raw()).id == "poison-1"
        else:  # stage 1 keeps the raw message as it came, with its key
            assert letter.value.raw() == original and not letter.value.truncated
            assert letter.key is not None and letter.key.raw() == b"bad"

    log = worker.log()
    assert [v for v in _planted_values(uniques) if v in log] == []  # found values are never logged

    port = worker.env["TUNELINE_SANITIZER_HTTP_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
        assert health.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert f'tuneline_sanitizer_records_out_total{{dataset="support"}} {float(len(uniques))}' in metrics
    assert 'tuneline_sanitizer_dropped_total{reason="duplicate"}' in metrics
    assert 'tuneline_sanitizer_dead_letters_total{reason="recognizer_error"} 1.0' in metrics
    assert 'tuneline_sanitizer_stage_seconds_count{stage="anonymize"}' in metrics
    assert 'tuneline_sanitizer_pii_total{entity="EMAIL"}' in metrics


def test_worker_killed_mid_stream_loses_nothing(
    kafka_bootstrap: str, topics: Topics, worker: Worker, consumer_group: str
) -> None:
    samples = _certain(generate(130, seed=9, dup_rate=0.15, near_rate=0.0))
    uniques = {s.id for s in samples if s.duplicate_of is None}
    first, second = samples[:70], samples[70:]
    _produce(kafka_bootstrap, topics.raw, [(s.id.encode(), _raw(s)) for s in first])

    out = Drain(kafka_bootstrap, topics.sanitized, consumer_group)
    try:
        worker.start()
        out.until(lambda: len(out.messages) >= 20, worker, 240)
        worker.stop(signal.SIGKILL)  # a crash: no clean shutdown, no final commit
        _produce(kafka_bootstrap, topics.raw, [(s.id.encode(), _raw(s)) for s in second])
        worker.start()
        out.until(lambda: {decode(SanitizedRecord, v).id for v, _ in out.messages} >= uniques, worker, 240)
        out.until(lambda: False, worker, 5)
    finally:
        out.close()

    ids = [decode(SanitizedRecord, value).id for value, _ in out.messages]
    assert set(ids) == uniques, worker.log()[-3000:]
    # Redelivery after the crash may repeat an id (the sinks are keyed by id); a copy never gets through.
    duplicates = {s.id for s in samples if s.duplicate_of is not None}
    assert not duplicates & set(ids)


def test_a_refused_dead_letter_stops_the_worker_and_is_not_lost(
    kafka_bootstrap: str,
    kafka_admin: AdminClient,
    make_topic: Callable[..., str],
    topics: Topics,
    worker: Worker,
    consumer_group: str,
) -> None:
    """At-least-once on a failed send: the message is neither acked nor committed."""
    small_dlq = make_topic("small-dlq", config={"max.message.bytes": "1024"})
    worker.env["TUNELINE_SANITIZER_DLQ_TOPIC"] = small_dlq
    bad = b"not json at all " * 200  # its dead letter is over 1024 bytes: the broker refuses it
    _produce(kafka_bootstrap, topics.raw, [(b"bad", bad)])

    worker.start()
    assert worker.proc is not None
    try:
        worker.proc.wait(180)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker went on after a refused send:\n{worker.log()[-3000:]}")
    assert worker.proc.returncode != 0

    entry = ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource("topic", small_dlq, incremental_configs=[entry])
    for future in kafka_admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    worker.start()
    dlq = Drain(kafka_bootstrap, small_dlq, consumer_group + "-dlq")
    try:
        dlq.until(lambda: len(dlq.messages) >= 1, worker, 180)
        dlq.until(lambda: False, worker, 3)
    finally:
        dlq.close()
    ((value, headers),) = dlq.messages
    letter = decode(DeadLetter, value)
    assert headers["reason"] == b"not_json" and letter.value is not None and letter.value.raw() == bad
    assert letter.source_topic == topics.raw and letter.source_offset == 0
