"""A real Faust worker (faust-streaming on aiokafka) against the real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from libs.devstack.servers import free_port

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("faust_wordcount_app.py")


def test_faust_agent_transforms_and_counts(
    kafka_bootstrap: str, make_topic: Callable[..., str], consumer_group: str, unique_id: str, tmp_path: Path
) -> None:
    source, sink = make_topic("faust-in"), make_topic("faust-out")
    events = [("alice", "hello"), ("bob", "hi"), ("alice", "again"), ("carol", "hey"), ("alice", "third")]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"})
    for key, text in events:
        producer.produce(source, key=key, value=json.dumps({"text": text}))
    assert producer.flush(30) == 0

    env = {
        **os.environ,
        "FAUST_APP_ID": f"test-faust-{unique_id}",
        "FAUST_BROKER": kafka_bootstrap,
        "FAUST_INPUT": source,
        "FAUST_OUTPUT": sink,
        "FAUST_DATADIR": str(tmp_path / "faust"),
        "FAUST_WEB_PORT": str(free_port()),
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, str(APP), "worker", "-l", "warn"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": consumer_group,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([sink])
        out: list[tuple[str, dict[str, object]]] = []
        deadline = time.monotonic() + 120
        while len(out) < len(events) and time.monotonic() < deadline and worker.poll() is None:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                raw_key, value = msg.key(), msg.value()
                assert isinstance(raw_key, bytes) and isinstance(value, bytes)
                out.append((raw_key.decode(), json.loads(value)))
        consumer.close()
        assert worker.poll() is None, f"worker died:\n{log_path.read_text()[-3000:]}"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    assert out == [
        ("alice", {"text": "HELLO", "seen": 1}),
        ("bob", {"text": "HI", "seen": 1}),
        ("alice", {"text": "AGAIN", "seen": 2}),
        ("carol", {"text": "HEY", "seen": 1}),
        ("alice", {"text": "THIRD", "seen": 3}),
    ], log_path.read_text()[-3000:]
