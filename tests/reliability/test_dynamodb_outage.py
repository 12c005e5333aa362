"""The DynamoDB-compatible server stopped for 20 s mid-stream, under injected throttling (issue 16,
item 3).

The writer runs as a real process against a dynalite of this test's own (the session server is
shared by every test and must not stop). Between them sits a small HTTP proxy that answers a fraction
of BatchWriteItem calls with DynamoDB's ProvisionedThroughputExceededException (dynalite never
throttles). The real server is stopped (SIGTERM) while records flow, and started again 20 s later on
the same port and LevelDB data; meanwhile the proxy closes each connection it cannot forward.

Asserted: the writer turns not-ready (503 on /readyz) while the server is away and ready again
after; its committed offsets never pass what is stored (every record below a sampled committed offset
is in the table, and nothing is committed while the server is away); once the server is back every
record is stored once, the writer is alive and its lag is zero.
"""

from __future__ import annotations

import http.client
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from libs.devstack.dynalite import DynaliteProcess, install_dynalite
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from libs.schemas import Table, table_name
from libs.storage.tables import DatasetCounters
from tests.integration.writer_helpers import (
    committed,
    count_items,
    end_offsets,
    produce,
    records_payloads,
)

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]

RECORDS, CHUNK, PARTITIONS = 3000, 60, 3
OUTAGE_S = 20.0
THROTTLE_FRACTION = 0.15
NOT_READY_WITHIN_S = 10.0
READY_AGAIN_WITHIN_S = 20.0
THROTTLED_BODY = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
    b'"message":"The level of configured provisioned throughput for the table was exceeded."}'
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class ThrottlingProxy:
    """Forwards every request to dynalite, except a fraction of BatchWriteItem calls, which it answers
    with DynamoDB's throttling error. A request it cannot forward (server stopped) gets its connection
    closed without an answer, as a dead server's would."""

    def __init__(self, upstream_port: int, fraction: float, seed: int = 16) -> None:
        self.upstream_port = upstream_port
        self.throttled = 0
        self.refused = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler(fraction))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _throttle(self, fraction: float) -> bool:
        with self._lock:
            if self._rng.random() < fraction:
                self.throttled += 1
                return True
            return False

    def _handler(self, fraction: float) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".BatchWriteItem") and proxy._throttle(fraction):
                    self._answer(400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLED_BODY)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=10)
                try:
                    upstream.request("POST", self.path, body, dict(self.headers.items()))
                    response = upstream.getresponse()
                    data = response.read()
                except OSError:
                    with proxy._lock:
                        proxy.refused += 1
                    self.close_connection = True  # no answer: the client sees a dropped connection
                    return
                finally:
                    upstream.close()
                headers = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
                self._answer(response.status, headers, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        return Handler


@pytest.fixture
def own_dynalite(tmp_path: Path) -> Iterator[DynaliteProcess]:
    """A dynalite of this test's own, which it may stop and start again (same port, same data)."""
    server = DynaliteProcess(
        install_dynalite(DevStackSettings().cache_dir),
        tmp_path / "dynalite",
        port=free_port(),
        die_with_parent=True,
    )
    server.start()
    yield server
    server.daemon.stop()


@pytest.fixture
def proxy(own_dynalite: DynaliteProcess) -> Iterator[ThrottlingProxy]:
    started = ThrottlingProxy(own_dynalite.port, THROTTLE_FRACTION).start()
    yield started
    started.stop()


def readyz(port: int) -> int | None:
    """The writer's /readyz status; None while its HTTP server does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def wait(condition: Callable[[], Any], timeout_s: float, what: str, alive: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if problem := alive():
            raise AssertionError(f"{what}: {problem}")
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_a_stopped_dynamodb_stalls_the_writer_without_losing_or_committing_ahead(
    own_dynalite: DynaliteProcess, proxy: ThrottlingProxy, kafka_bootstrap: str,
    make_topic: Callable[..., str], consumer_group: str, table_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    started = time.monotonic()
    topic, dlq = make_topic("sanitized", partitions=PARTITIONS), make_topic("writer-dlq")
    direct = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=own_dynalite.endpoint,
        region_name="us-east-1",
        aws_access_key_id="tuneline",
        aws_secret_access_key="tuneline",
    )
    table = table_name(Table.RECORDS, table_prefix)
    http_port = free_port()
    env = {
        **os.environ,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": proxy.endpoint,
        "TUNELINE_TABLE_PREFIX": table_prefix,
        "AWS_ACCESS_KEY_ID": "tuneline",
        "AWS_SECRET_ACCESS_KEY": "tuneline",
        # Few botocore retries: throttling and the outage reach the writer's own retry loop.
        "TUNELINE_DYNAMODB_MAX_ATTEMPTS": "2",
        "TUNELINE_WRITER_TOPIC": topic,
        "TUNELINE_WRITER_DLQ_TOPIC": dlq,
        "TUNELINE_WRITER_GROUP_ID": consumer_group,
        "TUNELINE_WRITER_HTTP_PORT": str(http_port),
        "TUNELINE_WRITER_BATCH_MAX_RECORDS": "200",
        "TUNELINE_WRITER_BATCH_MAX_WAIT_S": "0.3",
    }  # fmt: skip
    log_path = tmp_path / "writer.log"
    with open(log_path, "wb") as log:
        writer = subprocess.Popen([sys.executable, "-m", "services.writer"], env=env, stdout=log, stderr=log)

    def alive() -> str:
        if writer.poll() is not None:
            return f"writer exited with {writer.returncode}:\n{log_path.read_text()[-3000:]}"
        return ""

    placed: dict[tuple[int, int], str] = {}
    produce_errors: list[BaseException] = []

    def producer() -> None:
        # Records flow before, during and after the outage's start.
        try:
            for start in range(0, RECORDS, CHUNK):
                placed.update(produce(kafka_bootstrap, topic, records_payloads(range(start, start + CHUNK))))
                time.sleep(0.4)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            produce_errors.append(exc)

    def verify_stored(offsets: dict[int, int]) -> None:
        """Every record below each committed offset is in the table (read by id, from the server)."""
        _, stored = count_items(direct, table)
        ahead = [
            (p, o) for (p, o), key in list(placed.items()) if o < offsets.get(p, -1) and key not in stored
        ]
        assert ahead == [], f"committed ahead of storage: {len(ahead)} records, e.g. {ahead[:3]}"

    try:
        wait(lambda: readyz(http_port) == 200, 90, "writer ready", alive)
        feeder = threading.Thread(target=producer, daemon=True)
        feeder.start()
        # Mid-stream: stop the server once the writer has committed a few batches.
        wait(
            lambda: sum(committed(kafka_bootstrap, consumer_group, topic, PARTITIONS).values()) >= 600,
            60, "first commits", alive,
        )  # fmt: skip
        before = committed(kafka_bootstrap, consumer_group, topic, PARTITIONS)
        verify_stored(before)
        own_dynalite.daemon.stop()
        stopped = time.monotonic()

        # The server is away: sample readiness and commits.
        not_ready_at: float | None = None
        during: list[tuple[float, dict[int, int]]] = []
        while time.monotonic() - stopped < OUTAGE_S:
            assert not alive(), alive()
            if not_ready_at is None and readyz(http_port) == 503:
                not_ready_at = time.monotonic()
            during.append(
                (time.monotonic() - stopped, committed(kafka_bootstrap, consumer_group, topic, PARTITIONS))
            )
            time.sleep(0.5)
        assert not_ready_at is not None, "the writer stayed ready while DynamoDB was stopped"
        turned_not_ready_s = not_ready_at - stopped
        assert turned_not_ready_s <= NOT_READY_WITHIN_S
        assert readyz(http_port) == 503, "the writer turned ready again while DynamoDB was away"

        own_dynalite.start()
        restarted = time.monotonic()
        # What was committed while the server was away must be stored (nothing new could be).
        last_during = during[-1][1]
        verify_stored(last_during)
        settled = [offsets for at, offsets in during if at >= 3.0]
        assert all(o == settled[0] for o in settled), (
            f"commits moved while DynamoDB was stopped: {settled[0]} -> {settled[-1]}"
        )
        wait(lambda: readyz(http_port) == 200, READY_AGAIN_WITHIN_S, "ready again", alive)
        ready_again_s = time.monotonic() - restarted
        not_ready_s = time.monotonic() - not_ready_at
        wait(
            lambda: committed(kafka_bootstrap, consumer_group, topic, PARTITIONS) != last_during,
            60, "first commit after the restart", alive,
        )  # fmt: skip
        first_commit_s = time.monotonic() - restarted

        # Catch up, checking commits against storage on the way.
        feeder.join(60)
        assert produce_errors == [] and not feeder.is_alive()
        target = end_offsets(kafka_bootstrap, topic, PARTITIONS)
        deadline = time.monotonic() + 60
        while (now := committed(kafka_bootstrap, consumer_group, topic, PARTITIONS)) != target:
            assert not alive(), alive()
            assert time.monotonic() < deadline, f"writer did not catch up: {now} != {target}"
            verify_stored(now)
            time.sleep(1.0)
        caught_up_s = time.monotonic() - restarted
        verify_stored(target)
        assert not alive(), alive()
        assert readyz(http_port) == 200
    finally:
        if writer.poll() is None:
            writer.terminate()
            writer.wait(60)

    assert writer.returncode == 0, log_path.read_text()[-3000:]
    total, ids = count_items(direct, table)
    expected = {f"helpdesk:{i:08d}" for i in range(RECORDS)}
    writes = DatasetCounters(direct, table_prefix).get("support").get("records_total", 0)
    lag = sum(target.values()) - sum(committed(kafka_bootstrap, consumer_group, topic, PARTITIONS).values())
    print(
        f"\ndynamodb outage: produced {RECORDS}, stored {total}, distinct {len(ids)}, "
        f"lost {len(expected - ids)}, stored twice {total - len(ids)} "
        f"(counted writes {writes}: {writes - RECORDS} written again), "
        f"throttled requests {proxy.throttled}, dropped while stopped {proxy.refused}; "
        f"not-ready {turned_not_ready_s:.1f} s after the stop, for {not_ready_s:.1f} s; "
        f"ready {ready_again_s:.1f} s, first commit {first_commit_s:.1f} s, lag 0 "
        f"{caught_up_s:.1f} s after the restart; committed at the stop {sum(before.values())}; "
        f"test {time.monotonic() - started:.0f} s"
    )  # fmt: skip
    assert ids == expected and total == RECORDS
    assert lag == 0
    assert proxy.throttled > 0 and proxy.refused > 0
    assert sum(last_during.values()) < RECORDS, "the outage came after the last record"
