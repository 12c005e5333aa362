"""kill -9 the writer process again and again while 50,000 records flow: nothing may be lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.servers import free_port
from libs.schemas import Table, table_name
from libs.storage.tables import DatasetCounters
from tests.integration.writer_helpers import committed, count_items, end_offsets, produce, records_payloads

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_kill_9_at_random_moments_loses_nothing(
    kafka_bootstrap: str, dynamodb_endpoint: str, dynamodb_client: Any, table_prefix: str,
    make_topic: Callable[..., str], consumer_group: str, tmp_path: Path,
) -> None:  # fmt: skip
    n, kills = 50_000, 10
    topic, dlq = make_topic("sanitized", partitions=3), make_topic("writer-dlq")
    produce(kafka_bootstrap, topic, records_payloads(range(n)))
    env = {
        **os.environ,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "AWS_ACCESS_KEY_ID": "tuneline",
        "AWS_SECRET_ACCESS_KEY": "tuneline",
        "TUNELINE_WRITER_TOPIC": topic,
        "TUNELINE_WRITER_DLQ_TOPIC": dlq,
        "TUNELINE_WRITER_GROUP_ID": consumer_group,
        # Static membership: a restarted writer takes its partitions back without waiting out the
        # dead member's session.
        "TUNELINE_WRITER_INSTANCE_ID": "writer-0",
        "TUNELINE_WRITER_BATCH_MAX_RECORDS": "500",
        "TUNELINE_WRITER_BATCH_MAX_WAIT_S": "0.3",
    }  # fmt: skip
    rng = random.Random(1234)
    log = open(tmp_path / "writer.log", "ab")  # noqa: SIM115 - shared by every run

    def start() -> subprocess.Popen[bytes]:
        run_env = {**env, "TUNELINE_WRITER_HTTP_PORT": str(free_port())}
        return subprocess.Popen(
            [sys.executable, "-m", "services.writer"], env=run_env, stdout=log, stderr=log
        )

    target = end_offsets(kafka_bootstrap, topic, 3)
    progress: list[int] = []
    for _ in range(kills):
        before = progress[-1] if progress else 0
        proc = start()
        # Wait for this run to commit something (start-up time depends on the machine's load),
        # then kill it at a random moment of its work.
        deadline = time.monotonic() + 60
        while sum(committed(kafka_bootstrap, consumer_group, topic, 3).values()) <= before:
            if time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        progress.append(sum(committed(kafka_bootstrap, consumer_group, topic, 3).values()))

    proc = start()  # the last run goes to the end, then stops cleanly
    deadline = time.monotonic() + 300
    while committed(kafka_bootstrap, consumer_group, topic, 3) != target:
        assert proc.poll() is None, (tmp_path / "writer.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "writer did not catch up in 300 s"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    log.close()

    total, ids = count_items(dynamodb_client, table_name(Table.RECORDS, table_prefix))
    expected = {f"helpdesk:{i:08d}" for i in range(n)}
    writes = DatasetCounters(dynamodb_client, table_prefix).get("support")["records_total"]
    print(f"\ncrash test: {kills} kills, committed after each: {progress}; records produced {n}, "
          f"stored {total}, distinct {len(ids)}, missing {len(expected - ids)}, "
          f"duplicated writes {writes - n} (counted writes {writes})")  # fmt: skip
    assert ids == expected and total == n
    assert writes >= n
    assert len(set(progress)) >= kills // 2, "kills must land while records are still flowing"
    assert progress[-1] < n, "the last kill came too late to test anything"
