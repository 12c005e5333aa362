"""A small JSON API for the HTTP source's tests, served by uvicorn on 127.0.0.1 in a background thread.

Every pagination style has an endpoint over the same records (sorted by ``updated_at``, then ``id``):

- ``/items``: the whole array (no pagination)
- ``/paged?page=&per_page=``: ``{"data": {"items": [...]}}``
- ``/offset?offset=&limit=``: ``{"data": {"items": [...]}, "total": n}``
- ``/cursor?cursor=&limit=``: ``{"items": [...], "next_cursor": "..." | null}``
- ``/link?page=&per_page=``: the array, with an RFC 8288 ``Link: <...>; rel="next"`` header

All of them take ``since`` (records with ``updated_at >= since``), answer ``If-None-Match`` with 304,
check a bearer token when one is set, cap page sizes at ``max_page_size``, and fail on demand
(``api.fail(503, times=2)``, ``api.fail(429, retry_after="1")``). Use::

    with serve_api(make_records(100), token="t0ken") as api:
        HttpSource(HttpSourceConfig(..., url=api.url("/cursor"), ...))
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from libs.devstack.servers import free_port


def make_records(n: int, start: int = 0, per_second: int = 3) -> list[dict[str, Any]]:
    """Ticket-like records; ``per_second`` of them share each ``updated_at`` (ties on purpose)."""
    return [
        {
            "id": f"T-{i:06d}",
            "subject": f"Ticket {i}: VPN drops",
            "body": f"The VPN drops every {i % 50} minutes.",
            "updated_at": f"2026-01-01T{(i // per_second) // 3600:02d}:"
            f"{(i // per_second) // 60 % 60:02d}:{(i // per_second) % 60:02d}Z",
        }
        for i in range(start, start + n)
    ]


@dataclass
class ApiState:
    records: list[dict[str, Any]]
    token: str | None = None
    max_page_size: int = 50
    faults: list[tuple[int, str | None]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # every answer's status, in order
    queries: list[str] = field(default_factory=list)  # every request's path and query, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.records.extend(records)

    def fail(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next ``times`` requests answer ``status`` (with ``Retry-After`` when given)."""
        with self.lock:
            self.faults.extend([(status, retry_after)] * times)

    def selected(self, since: str | None) -> list[dict[str, Any]]:
        with self.lock:
            rows = [r for r in self.records if since is None or r["updated_at"] >= since]
        return sorted(rows, key=lambda r: (r["updated_at"], r["id"]))


def create_app(state: ApiState) -> FastAPI:
    app = FastAPI(title="tuneline test API")

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        with state.lock:
            state.queries.append(f"{request.url.path}?{request.url.query}")
            fault = state.faults.pop(0) if state.faults else None
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            response: Response = JSONResponse({"error": "injected"}, status_code=status, headers=headers)
        elif state.token is not None and request.headers.get("authorization") != f"Bearer {state.token}":
            response = JSONResponse({"error": "unauthorized"}, status_code=401)
        else:
            response = await call_next(request)
        with state.lock:
            state.statuses.append(response.status_code)
        return response

    def answer(request: Request, body: Any, headers: dict[str, str] | None = None) -> Response:
        payload = json.dumps(body).encode()
        etag = '"' + hashlib.sha256(payload).hexdigest()[:20] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        all_headers = {"ETag": etag, **(headers or {})}
        return Response(payload, media_type="application/json", headers=all_headers)

    def size(asked: int) -> int:
        return max(1, min(asked, state.max_page_size))

    @app.get("/items")
    def items(request: Request, since: str | None = None) -> Response:
        return answer(request, state.selected(since))

    @app.get("/paged")
    def paged(request: Request, page: int = 1, per_page: int = 20, since: str | None = None) -> Response:
        n = size(per_page)
        rows = state.selected(since)[(page - 1) * n : page * n]
        return answer(request, {"data": {"items": rows}})

    @app.get("/offset")
    def offset(request: Request, offset: int = 0, limit: int = 20, since: str | None = None) -> Response:
        rows = state.selected(since)
        return answer(request, {"data": {"items": rows[offset : offset + size(limit)]}, "total": len(rows)})

    @app.get("/cursor")
    def cursor(
        request: Request, cursor: str | None = None, limit: int = 20, since: str | None = None
    ) -> Response:
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        rows = state.selected(since)
        end = start + size(limit)
        following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else None
        return answer(request, {"items": rows[start:end], "next_cursor": following})

    @app.get("/link")
    def link(request: Request, page: int = 1, per_page: int = 20, since: str | None = None) -> Response:
        n = size(per_page)
        rows = state.selected(since)
        headers = {}
        if page * n < len(rows):
            following = request.url.include_query_params(page=page + 1)
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next", </link?page=1>; rel="first"'
        return answer(request, rows[(page - 1) * n : page * n], headers)

    return app


@dataclass
class RunningApi:
    base_url: str
    state: ApiState

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@contextmanager
def serve_api(
    records: list[dict[str, Any]], *, token: str | None = None, max_page_size: int = 50
) -> Iterator[RunningApi]:
    """Serve the API on a free 127.0.0.1 port until the block ends."""
    state = ApiState(list(records), token=token, max_page_size=max_page_size)
    app = create_app(state)
    for _ in range(5):  # the port can be taken between choosing and binding it
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"test-api-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if server.started:
            break
        server.should_exit = True
        thread.join(5)
    else:
        raise RuntimeError("the test API did not start on 127.0.0.1")
    try:
        yield RunningApi(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(10)
