"""Run the real collector process against the test broker and read what it produced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition

from libs.common.kafka import client_config, plaintext_settings
from libs.devstack.process import kill_me_with_parent
from libs.devstack.servers import free_port


@dataclass(frozen=True)
class Message:
    key: str
    value: dict[str, Any]
    headers: dict[str, Any]


class Collector:
    """The collector as a child process with its own offsets and dead-letter topics."""

    def __init__(self, tmp_path: Path, kafka_bootstrap: str, unique_id: str, sources: list[dict[str, Any]]):
        self.config = tmp_path / "sources.yaml"
        self.config.write_text(yaml.safe_dump({"sources": sources}))
        self.log_path = tmp_path / "collector.log"
        self.offsets_topic = f"test.collector-offsets.{unique_id}"
        self.dlq_topic = f"test.raw-dlq.{unique_id}"
        self.env = {
            **os.environ,
            "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TUNELINE_COLLECTOR_OFFSETS_TOPIC": self.offsets_topic,
            "TUNELINE_COLLECTOR_DLQ_TOPIC": self.dlq_topic,
            "TUNELINE_COLLECTOR_CHECKPOINT_INTERVAL_S": "0.2",
            "TUNELINE_LOG_LEVEL": "INFO",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> Collector:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.collector"],
            env={
                **self.env,
                "TUNELINE_COLLECTOR_CONFIG_FILE": str(self.config),
                "TUNELINE_COLLECTOR_HTTP_PORT": str(free_port()),
                **env,
            },
            stdout=log,
            stderr=log,
            preexec_fn=kill_me_with_parent,  # a killed test run leaves no collector behind
        )
        return self

    def stop(self, timeout_s: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self.proc = None

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Message]:
    """Every message now in ``topic`` (up to its end offsets), from the beginning; [] while the topic
    does not exist or has no leader yet (callers poll)."""
    consumer = Consumer(
        client_config(
            plaintext_settings(bootstrap),
            {"group.id": f"reader-{time.monotonic_ns()}", "enable.auto.commit": False},
        )
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        if meta.error is not None:
            return []
        ends: dict[int, int] = {}
        assignment = []
        for p in meta.partitions:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            except KafkaException:  # a topic created a moment ago may have no leader yet
                return []
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        out: list[Message] = []
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            headers = dict(msg.headers() or [])
            out.append(Message((msg.key() or b"").decode(), orjson.loads(msg.value() or b"null"), headers))
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        return out
    finally:
        consumer.close()


def wait_for_ids(
    bootstrap: str,
    topic: str,
    expected: Iterable[str],
    timeout_s: float = 120.0,
    collector: Collector | None = None,
) -> list[Message]:
    """Read ``topic`` until every expected id has arrived; fail with the collector's log otherwise."""
    wanted = set(expected)
    deadline = time.monotonic() + timeout_s
    messages: list[Message] = []
    while time.monotonic() < deadline:
        messages = read_all(bootstrap, topic)
        if wanted <= {m.key for m in messages}:
            return messages
        if collector is not None and collector.proc is not None and not collector.alive():
            raise AssertionError(f"the collector exited:\n{collector.log()[-4000:]}")
        time.sleep(0.5)
    missing = wanted - {m.key for m in messages}
    detail = collector.log()[-4000:] if collector else ""
    raise AssertionError(f"{len(missing)} of {len(wanted)} ids never arrived in {topic}\n{detail}")
