"""The internal knowledge-base API: paginated articles about the Larkspur products, behind a bearer token.

    python -m examples.kb_api --port 8090 --token s3cret
    curl -H 'Authorization: Bearer s3cret' 'http://127.0.0.1:8090/api/v1/articles?page=1&per_page=10'

``GET /api/v1/articles?page=&per_page=&updated_since=`` answers
``{"data": [...], "meta": {"page", "per_page", "total", "next_page"}}`` sorted by ``updated_at`` then
``id``, with an RFC 8288 ``Link: <...>; rel="next"`` header while more pages follow. Every page carries
an ``ETag`` derived from the whole collection's version and the query, so the first page changes
whenever any article does (what the collector's ``etag: true`` needs); ``If-None-Match`` with the
current tag answers 304. Without ``Authorization: Bearer <token>`` every route but ``/healthz``
answers 401. ``GET /api/v1/articles/{id}`` returns one article.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import uvicorn
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from examples.domain import COMPANY, ISSUES, PRODUCTS, Issue
from examples.people import AGENTS, Planted, PlantedKind, bearer_token
from examples.tickets import DEFAULT_SEED

MAX_PAGE_SIZE: Final = 50
ARTICLES_PATH: Final = "/api/v1/articles"


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _staff_email(name: str) -> str:
    first, last = name.lower().split()
    return f"{first}.{last}@larkspur.example"


def _issue_article(issue: Issue) -> dict[str, Any]:
    steps = issue.fix.split(". ", 1)[1] if ". " in issue.fix else issue.fix
    body = (
        f"Applies to: {issue.product}\nError code: {issue.code}\n\n"
        f"Symptoms\n{' '.join(issue.symptoms[:2])}\n\n"
        f"Cause\n{issue.cause}\n\n"
        f"Resolution\n{steps}\n\n"
        f"What support tells customers\n{issue.fix}"
    )
    return {"title": f"{issue.code}: {issue.title.split(' (')[0]}", "product": issue.product, "body": body}


def _overview_article(index: int) -> dict[str, Any]:
    product = PRODUCTS[index]
    codes = [i for i in ISSUES if i.product == product.name]
    listing = "\n".join(f"- {i.code}: {i.title.split(' (')[0]}" for i in codes)
    body = (
        f"{product.name} is {product.what}. Support answers every ticket about it with the fixes in "
        f"this knowledge base; quote the error code in the ticket subject.\n\nKnown error codes:\n{listing}"
    )
    return {"title": f"{product.name}: overview and error codes", "product": product.name, "body": body}


def _release_notes(seed: int, n: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:kb:release:{n}")
    product = PRODUCTS[n % len(PRODUCTS)]
    fixed = [i for i in ISSUES if i.product == product.name]
    issue = rng.choice(fixed)
    version = f"{3 + n // len(PRODUCTS)}.{rng.randrange(10)}.{rng.randrange(10)}"
    body = (
        f"{product.name} {version} is rolling out to all customers over the next 7 days.\n\n"
        f"Fixed: fewer cases of {issue.code} ({issue.title.split(' (')[0]}). If you still see {issue.code} "
        f"after updating, the fix support gives still applies:\n{issue.fix}"
    )
    return {"title": f"{product.name} {version} release notes", "product": product.name, "body": body}


def make_articles(
    seed: int = DEFAULT_SEED, anchor: dt.datetime | None = None, count: int | None = None
) -> list[dict[str, Any]]:
    """An overview per product, one article per error code and a how-to that pastes a real-looking
    bearer token by mistake (25), by staff authors; ``count`` keeps the first ones, or adds release
    notes up to it. ``updated_at`` values lie in the day before ``anchor``."""
    anchor = anchor or dt.datetime.now(dt.UTC)
    drafts = [_overview_article(i) for i in range(len(PRODUCTS))]
    drafts += [_issue_article(issue) for issue in ISSUES]
    token = bearer_token(random.Random(f"{seed}:kb:token"))
    drafts.append(
        {
            "title": "Calling the Aster Pay API from a shell",
            "product": "Aster Pay",
            "body": (
                "Use the sandbox for experiments. Example request (copied from a support session):\n"
                f"curl -H 'Authorization: Bearer {token}' https://api.asterpay.example/v1/charges\n"
                "A 401 with AP-233 means the key does not match the endpoint; see AP-233."
            ),
        }
    )
    if count is not None:
        drafts = drafts[:count] + [_release_notes(seed, n) for n in range(max(0, count - len(drafts)))]
    articles = []
    for n, draft in enumerate(drafts, start=1):
        author = AGENTS[n % len(AGENTS)]
        articles.append(
            {
                "id": f"KB-{1000 + n}",
                **draft,
                "author": author,
                "author_email": _staff_email(author),
                "version": 1,
                "updated_at": _iso(anchor - dt.timedelta(hours=24) + n * dt.timedelta(minutes=11)),
            }
        )
    return articles


def planted_in(articles: list[dict[str, Any]]) -> list[Planted]:
    """The authors' names and e-mails, and the pasted token."""
    found: dict[tuple[str, str], Planted] = {}
    for a in articles:
        for kind, value in ((PlantedKind.NAME, a["author"]), (PlantedKind.EMAIL, a["author_email"])):
            found.setdefault((kind, value), Planted(kind, value, "kb"))
        if "Bearer eyJ" in a["body"]:
            token = a["body"].split("Bearer ", 1)[1].split("'", 1)[0]
            found.setdefault(
                (PlantedKind.BEARER_TOKEN, token), Planted(PlantedKind.BEARER_TOKEN, token, "kb")
            )
    return list(found.values())


@dataclass
class KnowledgeBase:
    """The articles and their collection version (bumped by every edit)."""

    articles: list[dict[str, Any]]
    version: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def edit(self, article_id: str, body: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Change an article's body: its version and ``updated_at`` move, and so do the ETags."""
        with self._lock:
            for article in self.articles:
                if article["id"] == article_id:
                    article.update(
                        body=body,
                        version=article["version"] + 1,
                        updated_at=_iso(now or dt.datetime.now(dt.UTC)),
                    )
                    self.version += 1
                    return dict(article)
        raise KeyError(article_id)

    def select(self, updated_since: str | None) -> tuple[int, list[dict[str, Any]]]:
        with self._lock:
            rows = [
                dict(a) for a in self.articles if updated_since is None or a["updated_at"] >= updated_since
            ]
            return self.version, sorted(rows, key=lambda a: (a["updated_at"], a["id"]))


def create_app(kb: KnowledgeBase, token: str) -> FastAPI:
    app = FastAPI(title=f"{COMPANY} knowledge base", docs_url=None, redoc_url=None)
    expected = f"Bearer {token}".encode()

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        if request.url.path == "/healthz":
            response: Response = await call_next(request)
            return response
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse(
                {"error": "unauthorized", "detail": "send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="kb"'},
            )
        response = await call_next(request)
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(ARTICLES_PATH)
    def list_articles(
        request: Request,
        page: int = Query(1, ge=1),
        per_page: int = Query(10, ge=1),
        updated_since: str | None = None,
    ) -> Response:
        size = min(per_page, MAX_PAGE_SIZE)
        version, rows = kb.select(updated_since)
        chunk = rows[(page - 1) * size : page * size]
        more = page * size < len(rows)
        tag = hashlib.sha256(f"{version}|{page}|{size}|{updated_since}".encode()).hexdigest()[:24]
        etag = f'"{tag}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        body = {
            "data": chunk,
            "meta": {
                "page": page,
                "per_page": size,
                "total": len(rows),
                "next_page": page + 1 if more else None,
            },
        }
        headers = {"ETag": etag}
        if more:
            following = request.url.include_query_params(page=page + 1)
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return Response(json.dumps(body).encode(), media_type="application/json", headers=headers)

    @app.get(ARTICLES_PATH + "/{article_id}")
    def get_article(article_id: str) -> Response:
        _, rows = kb.select(None)
        for row in rows:
            if row["id"] == article_id:
                return JSONResponse(row)
        return JSONResponse({"error": "not_found"}, status_code=404)

    return app


class KbServer:
    """The API under uvicorn on ``host:port``, in a background thread."""

    def __init__(self, kb: KnowledgeBase, token: str, port: int, host: str = "127.0.0.1") -> None:
        self.kb = kb
        self.token = token
        self.host = host
        self.port = port
        config = uvicorn.Config(
            create_app(kb, token), host=host, port=port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="kb-api", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def articles_url(self) -> str:
        return self.base_url + ARTICLES_PATH

    def start(self, timeout_s: float = 30.0) -> KbServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the knowledge-base API did not start on {self.base_url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.kb_api", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", required=True, help="the bearer token clients must send")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    kb = KnowledgeBase(make_articles(args.seed))
    app = create_app(kb, args.token)
    print(f"{len(kb.articles)} articles at http://127.0.0.1:{args.port}{ARTICLES_PATH}")  # noqa: T201
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
