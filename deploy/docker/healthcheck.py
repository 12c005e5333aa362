"""The images' HEALTHCHECK and the compose file's healthchecks: GET /healthz on the service's own HTTP
port, read from the same variable the service reads (``TUNELINE_<SERVICE>_HTTP_PORT``), so a moved
port is still checked. Exit 0 when it answers 200, 1 otherwise."""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORTS = {"trainer": 8080, "collector": 8081, "sanitizer": 8082, "writer": 8083, "evaluator": 8084,
                 "server": 8085}  # fmt: skip


def main() -> int:
    service = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TUNELINE_SERVICE", "")).lower()
    if service not in DEFAULT_PORTS:
        print(f"healthcheck: unknown service {service!r}", file=sys.stderr)  # noqa: T201
        return 1
    port = os.environ.get(f"TUNELINE_{service.upper()}_HTTP_PORT") or DEFAULT_PORTS[service]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {service} on port {port}: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main())
