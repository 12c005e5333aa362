"""The evaluator's admin API client: what it sends for a drift run and how it reads each answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.servers import free_port
from services.evaluator.adapters.drift_io import AdminClient, read_token


class _Stub:
    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, Any]] = (202, {"run_id": "support-1"})
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def stub() -> Iterator[tuple[_Stub, str]]:
    state = _Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.seen.append((self.path, dict(self.headers), body))
            status, payload = state.answer
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def test_sends_reason_drift_the_key_and_the_token(stub: tuple[_Stub, str]) -> None:
    state, url = stub
    outcome = AdminClient(url + "/", "t0ken").request_drift_run("support", "drift:support:r:1:0")
    assert outcome.status == "requested" and outcome.run_id == "support-1"
    path, headers, body = state.seen[0]
    assert path == "/v1/trainings" and body == {"dataset": "support", "reason": "drift"}
    assert headers["Idempotency-Key"] == "drift:support:r:1:0" and headers["Authorization"] == "Bearer t0ken"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ((200, {"run_id": "support-1"}), "replayed"),
        ((409, {"error": {"code": "cooling_down", "message": "until noon"}}), "cooling_down"),
        ((422, {"error": {"code": "unknown_dataset", "message": "no"}}), "refused"),
        ((401, {"error": {"code": "unauthorized", "message": "token"}}), "refused"),
        ((503, {}), "failed"),
    ],
)
def test_reads_every_answer(stub: tuple[_Stub, str], answer: tuple[int, dict[str, Any]], status: str) -> None:
    state, url = stub
    state.answer = answer
    outcome = AdminClient(url, None).request_drift_run("support", "k")
    assert outcome.status == status and outcome.idempotency_key == "k"
    assert "Authorization" not in state.seen[0][1]


def test_an_unreachable_api_is_a_failure_not_an_exception() -> None:
    outcome = AdminClient(f"http://127.0.0.1:{free_port()}", "t", timeout_s=2).request_drift_run("d", "k")
    assert outcome.status == "failed" and "admin API" in outcome.detail


def test_only_http_urls_and_the_token_file_wins(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        AdminClient("file:///etc/passwd", None)
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert read_token("from-env", token_file) == "from-file"
    assert read_token(" from-env ", None) == "from-env"
    assert read_token(None, None) is None
