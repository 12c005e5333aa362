from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from libs.common.ops import OpsServer


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_readiness_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("tuneline_test_things_total", "things", registry=registry).inc(3)
    state = {"ready": False}
    server = OpsServer(
        0, ready=lambda: (state["ready"], "kafka"), registry=registry, host="127.0.0.1"
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(f"{base}/healthz") == (200, "ok\n")
        assert _get(f"{base}/readyz")[0] == 503
        state["ready"] = True
        assert _get(f"{base}/readyz") == (200, "kafka\n")
        status, body = _get(f"{base}/metrics")
        assert status == 200 and "tuneline_test_things_total 3.0" in body
        assert _get(f"{base}/nope")[0] == 404
    finally:
        server.stop()
