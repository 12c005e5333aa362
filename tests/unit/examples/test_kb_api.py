"""The knowledge-base API: bearer token, pages with Link headers, ETags that change with the content."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from examples.domain import ISSUES
from examples.kb_api import ARTICLES_PATH, KnowledgeBase, create_app, make_articles, planted_in
from examples.people import PlantedKind

ANCHOR = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TOKEN = "kb-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client(kb: KnowledgeBase | None = None) -> TestClient:
    return TestClient(create_app(kb or KnowledgeBase(make_articles(anchor=ANCHOR)), TOKEN))


def test_articles_are_deterministic_and_cover_every_error_code() -> None:
    articles = make_articles(seed=2, anchor=ANCHOR)
    assert articles == make_articles(seed=2, anchor=ANCHOR)
    text = "\n".join(a["body"] for a in articles)
    assert all(issue.code in text and issue.fix in text for issue in ISSUES)
    assert len(make_articles(anchor=ANCHOR, count=40)) == 40
    kinds = {p.kind for p in planted_in(articles)}
    assert kinds == {PlantedKind.NAME, PlantedKind.EMAIL, PlantedKind.BEARER_TOKEN}


def test_without_the_token_401() -> None:
    api = client()
    assert api.get(ARTICLES_PATH).status_code == 401
    wrong = api.get(ARTICLES_PATH, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert api.get("/healthz").status_code == 200


def test_pages_follow_links_to_every_article_once() -> None:
    api = client()
    seen, url, pages = [], f"{ARTICLES_PATH}?page=1&per_page=7", 0
    while url:
        response = api.get(url, headers=AUTH)
        assert response.status_code == 200
        body = response.json()
        seen += [a["id"] for a in body["data"]]
        pages += 1
        link = response.headers.get("link")
        assert (link is None) == (body["meta"]["next_page"] is None)
        url = link.split(">")[0].lstrip("<") if link else ""
    assert pages == 4  # 25 articles, 7 a page
    assert len(seen) == len(set(seen)) == 25
    capped = api.get(ARTICLES_PATH, params={"per_page": 500}, headers=AUTH).json()
    assert capped["meta"]["per_page"] == 50


def test_etag_answers_304_until_an_article_changes() -> None:
    kb = KnowledgeBase(make_articles(anchor=ANCHOR))
    api = client(kb)
    first = api.get(ARTICLES_PATH, params={"page": 1}, headers=AUTH)
    etag = first.headers["etag"]
    again = api.get(ARTICLES_PATH, params={"page": 1}, headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    # A change on the last page changes the first page's tag too (the collector only asks page 1).
    last_id = kb.articles[-1]["id"]
    kb.edit(last_id, "Updated resolution.", now=ANCHOR)
    changed = api.get(ARTICLES_PATH, params={"page": 1}, headers={**AUTH, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_updated_since_returns_only_newer_articles_in_order() -> None:
    kb = KnowledgeBase(make_articles(anchor=ANCHOR))
    api = client(kb)
    kb.edit("KB-1003", "New text.", now=ANCHOR + dt.timedelta(hours=1))
    body = api.get(ARTICLES_PATH, params={"updated_since": "2026-03-01T12:00:00Z"}, headers=AUTH).json()
    assert [a["id"] for a in body["data"]] == ["KB-1003"]
    assert body["data"][0]["version"] == 2
    one = api.get(f"{ARTICLES_PATH}/KB-1003", headers=AUTH)
    assert one.json()["body"] == "New text."
    assert api.get(f"{ARTICLES_PATH}/KB-9", headers=AUTH).status_code == 404
