"""The operations endpoint every service serves: ``/healthz``, ``/readyz`` and ``/metrics``.

A small threaded HTTP server from the standard library, so a service without its own web framework
(collector, sanitizer, writer) needs no extra dependency; readiness is a callback the service owns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class OpsServer:
    def __init__(
        self,
        port: int,
        ready: Callable[[], tuple[bool, str]],
        registry: CollectorRegistry = REGISTRY,
        host: str = "0.0.0.0",  # noqa: S104 - probes come from the kubelet, not only loopback
    ) -> None:
        self._ready = ready
        self._registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> OpsServer:
        self._thread.start()
        log.info("ops endpoint listening", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    try:
                        ok, detail = ops._ready()
                    except Exception as exc:  # noqa: BLE001 - a failing check means "not ready"
                        ok, detail = False, f"readiness check failed: {type(exc).__name__}"
                    self._send(200 if ok else 503, (detail + "\n").encode(), "text/plain")
                elif path == "/metrics":
                    self._send(200, generate_latest(ops._registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - probes every few seconds
                return

        return Handler
