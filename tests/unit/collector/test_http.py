"""HTTP source core: configuration, Link and Retry-After parsing, every pagination style, since / ETag,
resume from any checkpoint. The API is an in-process fake answering the planned URLs."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from pydantic import JsonValue

from libs.common.backoff import Backoff
from libs.schemas.records import RawRecord
from services.collector.adapters.http import HttpSource
from services.collector.core.config import parse_sources
from services.collector.core.errors import ConfigError, SourceUnavailable
from services.collector.core.http import (
    BearerAuth,
    HttpSourceConfig,
    UnexpectedResponse,
    auth_headers,
    is_retryable,
    next_link,
    parse_link_header,
    parse_retry_after,
    retry_delay,
    safe_url,
    with_query,
)
from services.collector.core.http_paging import HttpPager, PageRequest
from services.collector.core.http_state import HttpState, compare_since, parse_pointer, resolve_pointer
from services.collector.core.items import Checkpoint, Emit, Item, Reject

BASE = "https://api.example.test/v1/items"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def config(**overrides: Any) -> HttpSourceConfig:
    values: dict[str, Any] = {"name": "tickets", "kind": "http", "url": BASE, "id_path": "/id"}
    values.update(overrides)
    return HttpSourceConfig.model_validate(values)


def records(n: int, start: int = 0) -> list[dict[str, JsonValue]]:
    return [
        {"id": i, "subject": f"ticket {i}", "updated_at": f"2026-01-01T00:00:{i // 4:02d}Z"}
        for i in range(start, start + n)
    ]


class FakeApi:
    """Serves ``rows`` (sorted by updated_at, id) the way each pagination style expects."""

    def __init__(self, rows: list[dict[str, JsonValue]], page_size: int = 4, cap: int | None = None) -> None:
        self.rows = rows
        self.page_size = page_size
        self.cap = cap  # the most records a page holds, whatever was asked
        self.requests: list[PageRequest] = []

    def __call__(self, request: PageRequest) -> tuple[JsonValue, list[str], str | None]:
        self.requests.append(request)
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        path = urlsplit(request.url).path
        selected = [r for r in self.rows if "since" not in query or str(r["updated_at"]) >= query["since"]]
        selected.sort(key=lambda r: (str(r["updated_at"]), str(r["id"])))
        rows: list[JsonValue] = list(selected)
        size = min(int(query.get("limit", query.get("per_page", self.page_size))), self.cap or 10**9)
        etag = f'"{len(rows)}-{query.get("since")}"'
        if "page" in query:
            start = (int(query["page"]) - 1) * size
            return {"data": {"items": rows[start : start + size]}}, [], etag
        if "offset" in query:
            start = int(query["offset"])
            return {"data": {"items": rows[start : start + size]}}, [], etag
        if path.endswith("/cursor"):
            start = int(query.get("cursor", "0"))
            following = start + size if start + size < len(rows) else None
            return {"items": rows[start : start + size], "next": following and str(following)}, [], etag
        if path.endswith("/link"):
            start = int(query.get("from", "0"))
            links = []
            if start + size < len(rows):
                links.append(f'</v1/link?from={start + size}>; rel="next", </v1/link?from=0>; rel="first"')
            return rows[start : start + size], links, etag
        return rows, [], etag


STYLES: dict[str, dict[str, Any]] = {
    "none": {},
    "page": {
        "records_path": "/data/items",
        "pagination": {"style": "page", "page_size": 4},
    },
    "offset": {
        "records_path": "/data/items",
        "pagination": {"style": "offset", "limit": 4},
    },
    "cursor": {
        "url": "https://api.example.test/v1/cursor",
        "records_path": "/items",
        "pagination": {"style": "cursor", "cursor_path": "/next"},
    },
    "link": {"url": "https://api.example.test/v1/link", "pagination": {"style": "link"}},
}


def run_pass(
    pager: HttpPager, api: Callable[[PageRequest], tuple[JsonValue, list[str], str | None]]
) -> list[Item]:
    """What ``HttpSource.poll`` does, minus the network: pages until the pass ends."""
    items: list[Item] = []
    for _ in range(1000):
        request = pager.next_request()
        body, links, etag = api(request)
        if "If-None-Match" in request.headers and request.headers["If-None-Match"] == etag:
            pager.not_modified()
            return items
        items.extend(pager.read(request, body, links, etag))
        if pager.at_pass_start:
            return items
    raise AssertionError("the pass never ended")


def ids(items: list[Item]) -> list[int]:
    out = []
    for item in items:
        assert isinstance(item, Emit)
        fields = orjson.loads(item.value)["fields"]
        out.append(fields["id"])
    return out


def pager_for(cfg: HttpSourceConfig, checkpoint: Checkpoint | None = None) -> HttpPager:
    return HttpPager.for_config(cfg, (checkpoint or {}).get(cfg.endpoint))


# --- configuration -------------------------------------------------------------------------------


def test_sources_file_resolves_nested_auth_secrets_and_validates() -> None:
    raw = {
        "sources": [
            {
                "name": "tickets",
                "kind": "http",
                "url": "https://api.example.test/items",
                "auth": {"type": "bearer", "token_env": "API_TOKEN"},
                "pagination": {"style": "cursor", "cursor_path": "/meta/next"},
                "incremental": {"field_path": "/updated_at"},
            }
        ]
    }
    parsed = parse_sources(raw, {"API_TOKEN": "s3cret"}, lambda path: "")
    source = parsed.sources[0]
    assert isinstance(source, HttpSourceConfig)
    assert isinstance(source.auth, BearerAuth)
    assert auth_headers(source.auth) == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(source)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "ftp://host/x"}, "http:// or https://"),
        ({"url": "https://user:pw@host/x"}, "credentials in 'auth'"),
        ({"records_path": "data.items"}, "JSON pointer"),
        ({"pagination": {"style": "page"}, "params": {"page": 2}}, "pagination or incremental"),
        ({"pagination": {"style": "page", "size_param": None, "stop_on_short_page": True}}, "short page"),
        ({"pagination": {"style": "link", "page_size": 50}}, "both or neither"),
        ({"auth": {"type": "header", "header": "X-Key", "token": "t"}, "headers": {"x-key": "v"}}, "auth"),
        ({"content_template": "{subject}", "content_path": "/subject"}, "at most one"),
        ({"pagination": {"style": "cursor"}}, "cursor_path"),
    ],
)
def test_invalid_configs_name_the_problem(overrides: dict[str, Any], message: str) -> None:
    raw = {"sources": [{"name": "tickets", "kind": "http", "url": BASE, **overrides}]}
    with pytest.raises(ConfigError, match="source 'tickets'") as caught:
        parse_sources(raw, {}, lambda path: "")
    assert message in str(caught.value)


def test_auth_headers_for_each_kind() -> None:
    basic = config(auth={"type": "basic", "username": "svc", "password": "pw"}).auth
    header = config(auth={"type": "header", "header": "X-API-Key", "token": "k"}).auth
    assert auth_headers(basic) == {"Authorization": "Basic c3ZjOnB3"}
    assert auth_headers(header) == {"X-API-Key": "k"}
    assert auth_headers(None) == {}


def test_etag_is_on_by_default_only_without_pagination() -> None:
    assert config().use_etag
    assert not config(pagination={"style": "page"}).use_etag
    assert config(pagination={"style": "page"}, etag=True).use_etag


# --- URLs, Link, Retry-After ---------------------------------------------------------------------


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("https://u:p@host:8443/a/b?api_key=x#f") == "https://host:8443/a/b"


def test_with_query_replaces_and_keeps() -> None:
    assert with_query("https://h/x?type=a&page=9", {"page": "2"}) == "https://h/x?type=a&page=2"


def test_link_header_parsing() -> None:
    value = (
        '<https://h/x?page=3&a=1,2>; rel="next last"; title="a, b; c", '
        "<https://h/x?page=1>; REL=first, <broken; rel=next, <https://h/x?page=2>;rel=prev"
    )
    links = parse_link_header(value)
    assert [link.url for link in links][:2] == ["https://h/x?page=3&a=1,2", "https://h/x?page=1"]
    assert links[0].rels == {"next", "last"}
    assert links[0].params["title"] == "a, b; c"
    assert links[1].rels == {"first"}
    assert parse_link_header("") == []
    assert parse_link_header("garbage") == []


def test_next_link_resolves_relative_urls_and_ends_without_next() -> None:
    assert next_link(['</v1/x?page=2>; rel="next"'], "https://h/v1/x?page=1") == "https://h/v1/x?page=2"
    assert next_link(['<?page=3>; rel="next"'], "https://h/v1/x?page=2") == "https://h/v1/x?page=3"
    assert next_link(['<https://h/x?page=1>; rel="prev"'], "https://h/x") is None
    assert next_link([], "https://h/x") is None
    # two Link headers: the next link may be in either
    assert next_link(['<a>; rel="prev"', '<b>; rel="next"'], "https://h/x/") == "https://h/x/b"


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 0 ", NOW) == 0.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0.0  # in the past
    for bad in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(bad, NOW) is None


def test_retry_delay_honours_retry_after_up_to_the_cap_else_jittered_backoff() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(7))
    assert retry_delay(0, 3.0, backoff, 60.0) == 3.0
    assert retry_delay(0, 600.0, backoff, 60.0) == 60.0
    delays = [retry_delay(attempt, None, backoff, 60.0) for attempt in range(10)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert delays[0] <= 0.5
    assert len(set(delays)) == len(delays)  # jittered


def test_retryable_statuses() -> None:
    assert [
        s for s in (200, 304, 400, 401, 403, 404, 408, 422, 429, 500, 501, 502, 503) if is_retryable(s)
    ] == [
        408,
        429,
        500,
        502,
        503,
    ]


def test_pointers_and_since_comparison() -> None:
    assert parse_pointer("") == ()
    assert parse_pointer("/a~1b/c~0d/0") == ("a/b", "c~d", "0")
    assert resolve_pointer({"a": [{"b": 1}]}, ("a", "0", "b")) == 1
    assert resolve_pointer({"a": []}, ("a", "0")) is resolve_pointer({}, ("x",))
    assert compare_since("2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00") == 0
    assert compare_since("2026-01-02", "2026-01-01T23:59:59") == 1
    assert compare_since("9", "10") == -1  # numeric strings compare as numbers
    assert compare_since(10, 9.5) == 1
    assert compare_since("b", "a") == 1
    assert compare_since(1, "1") is None
    assert compare_since(True, 1) is None


# --- every pagination style ----------------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_collects_every_record_once(style: str) -> None:
    rows = records(10)
    cfg = config(**STYLES[style])
    items = run_pass(pager_for(cfg), FakeApi(rows, page_size=4))
    assert sorted(ids(items)) == list(range(10))
    assert len(items) == 10


def test_page_style_requests() -> None:
    api = FakeApi(records(5))
    cfg = config(records_path="/data/items", pagination={"style": "page", "page_size": 4}, params={"q": True})
    run_pass(pager_for(cfg), api)
    queries = [urlsplit(r.url).query for r in api.requests]
    assert queries == ["q=true&page=1&per_page=4", "q=true&page=2&per_page=4", "q=true&page=3&per_page=4"]


def test_short_page_ends_the_pass_when_asked() -> None:
    api = FakeApi(records(5))
    pagination = {"style": "page", "page_size": 4, "stop_on_short_page": True}
    run_pass(pager_for(config(records_path="/data/items", pagination=pagination)), api)
    assert len(api.requests) == 2


def test_offset_advances_by_what_came_back_when_the_api_caps_the_limit() -> None:
    api = FakeApi(records(10), cap=3)
    cfg = config(records_path="/data/items", pagination={"style": "offset", "limit": 100})
    items = run_pass(pager_for(cfg), api)
    assert ids(items) == list(range(10))
    offsets = [parse_qs(urlsplit(r.url).query)["offset"][0] for r in api.requests]
    assert offsets == ["0", "3", "6", "9", "10"]


def test_cursor_ends_on_has_more_false_and_on_a_repeated_cursor() -> None:
    cfg = config(
        records_path="/items",
        pagination={"style": "cursor", "cursor_path": "/next", "has_more_path": "/more"},
    )
    pager = pager_for(cfg)
    body: JsonValue = {"items": [{"id": 1}], "next": "abc", "more": False}
    list(pager.read(pager.next_request(), body, [], None))
    assert pager.at_pass_start
    pager = pager_for(config(records_path="/items", pagination={"style": "cursor", "cursor_path": "/next"}))
    list(pager.read(pager.next_request(), {"items": [{"id": 1}], "next": "abc"}, [], None))
    request = pager.next_request()
    assert "cursor=abc" in request.url
    list(pager.read(request, {"items": [{"id": 2}], "next": "abc"}, [], None))
    assert pager.at_pass_start


def test_link_pagination_keeps_configured_params_out_of_the_checkpoint() -> None:
    cfg = config(
        url="https://api.example.test/v1/link", pagination={"style": "link"}, params={"api_key": "k"}
    )
    pager = pager_for(cfg)
    first = pager.next_request()
    assert "api_key=k" in first.url
    items = list(pager.read(first, [{"id": 1}], ['</v1/link?api_key=k&from=1>; rel="next"'], None))
    offset = items[-1].position[1]
    assert isinstance(offset, dict) and offset["page"] == "https://api.example.test/v1/link?from=1"
    assert "api_key=k" in pager.next_request().url


def test_a_next_link_to_another_origin_is_refused() -> None:
    pager = pager_for(config(url="https://api.example.test/v1/link", pagination={"style": "link"}))
    with pytest.raises(UnexpectedResponse, match="leaves the configured origin"):
        list(pager.read(pager.next_request(), [{"id": 1}], ['<https://evil.test/x>; rel="next"'], None))


def test_an_api_ignoring_the_page_parameter_is_caught() -> None:
    pager = pager_for(config(pagination={"style": "page", "page_size": 2}))
    same: JsonValue = [{"id": 1}, {"id": 2}]
    list(pager.read(pager.next_request(), same, [], None))
    with pytest.raises(UnexpectedResponse, match="same records for two pages"):
        list(pager.read(pager.next_request(), same, [], None))


def test_a_records_path_that_finds_no_array_is_an_error_and_null_is_empty() -> None:
    pager = pager_for(config(records_path="/data"))
    with pytest.raises(UnexpectedResponse, match="records_path '/data' points at nothing"):
        list(pager.read(pager.next_request(), {"error": "x"}, [], None))
    with pytest.raises(UnexpectedResponse, match="a JSON object"):
        list(pager.read(pager.next_request(), {"data": {"a": 1}}, [], None))
    assert list(pager.read(pager.next_request(), {"data": None}, [], None)) == []


# --- since and ETag ------------------------------------------------------------------------------


def test_since_second_pass_yields_nothing_and_later_records_are_collected() -> None:
    rows = records(10)  # updated_at ties: four records per second
    api = FakeApi(rows)
    cfg = config(
        records_path="/data/items",
        pagination={"style": "page", "page_size": 4},
        incremental={"field_path": "/updated_at"},
    )
    pager = pager_for(cfg)
    assert sorted(ids(run_pass(pager, api))) == list(range(10))
    assert pager.state.since == "2026-01-01T00:00:02Z"
    assert run_pass(pager, api) == []
    assert "since=2026-01-01T00%3A00%3A02Z" in api.requests[-1].url
    # a late record with the same timestamp as the boundary, and a newer one
    rows.append({"id": 100, "subject": "late", "updated_at": "2026-01-01T00:00:02Z"})
    rows.append({"id": 101, "subject": "new", "updated_at": "2026-01-01T00:00:09Z"})
    assert sorted(ids(run_pass(pager, api))) == [100, 101]
    assert run_pass(pager, api) == []


def test_client_side_since_filter_without_a_parameter() -> None:
    rows = records(6)
    cfg = config(incremental={"field_path": "/updated_at", "param": None})
    pager = pager_for(cfg)
    api = FakeApi(rows)
    assert len(run_pass(pager, api)) == 6
    rows.append({"id": 50, "updated_at": "2026-01-01T00:00:05Z"})
    assert ids(run_pass(pager, api)) == [50]
    assert all("since" not in r.url for r in api.requests)


def test_initial_since_is_sent_on_the_first_pass() -> None:
    cfg = config(incremental={"field_path": "/updated_at", "initial": "2026-01-01T00:00:01Z"})
    api = FakeApi(records(10))
    assert ids(run_pass(pager_for(cfg), api)) == [4, 5, 6, 7, 8, 9]


def test_etag_sent_when_the_first_request_repeats_and_304_ends_the_pass() -> None:
    api = FakeApi(records(3))
    pager = pager_for(config())
    assert len(run_pass(pager, api)) == 3
    assert "If-None-Match" not in api.requests[0].headers
    assert run_pass(pager, api) == []
    assert api.requests[-1].headers == {"If-None-Match": '"3-None"'}
    api.rows.append({"id": 3, "updated_at": "2026-01-01T00:00:09Z"})
    assert ids(run_pass(pager, api)) == [0, 1, 2, 3]


def test_etag_is_not_sent_once_since_moved() -> None:
    api = FakeApi(records(3))
    pager = pager_for(config(incremental={"field_path": "/updated_at"}))
    run_pass(pager, api)
    run_pass(pager, api)  # since moved: a new request, no If-None-Match; it records the new ETag
    assert "If-None-Match" not in api.requests[1].headers
    assert run_pass(pager, api) == []
    assert "If-None-Match" in api.requests[2].headers


# --- resume --------------------------------------------------------------------------------------


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "since"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_resume_from_every_checkpoint_loses_nothing(style: str, incremental: bool) -> None:
    rows = records(11)
    cfg = config(**STYLES[style], incremental={"field_path": "/updated_at"} if incremental else None)
    items = run_pass(pager_for(cfg), FakeApi(rows, page_size=4))
    assert sorted(ids(items)) == list(range(11))
    for cut in range(len(items)):
        checkpoint: Checkpoint = dict([items[cut].position])
        resumed = run_pass(pager_for(cfg, checkpoint), FakeApi(rows, page_size=4))
        offset = items[cut].position[1]
        assert isinstance(offset, dict)
        if offset["page"] is None and offset["index"] == 0 and not incremental:
            # behind the pass's last record: the restart begins the next (full) pass, which the ETag
            # saved in the checkpoint cuts short where the style uses one
            assert sorted(ids(resumed)) == ([] if cfg.use_etag else list(range(11)))
        else:
            assert sorted(ids(items[: cut + 1]) + ids(resumed)) == list(range(11)), f"cut after item {cut}"


def test_resume_mid_page_skips_only_what_the_checkpoint_covers() -> None:
    cfg = config(records_path="/data/items", pagination={"style": "page", "page_size": 4})
    items = run_pass(pager_for(cfg), FakeApi(records(8)))
    offset = items[5].position[1]
    assert isinstance(offset, dict)
    assert (offset["page"], offset["index"], offset["page_no"]) == (2, 2, 2)
    resumed = run_pass(pager_for(cfg, dict([items[5].position])), FakeApi(records(8)))
    assert ids(resumed) == [6, 7]


def test_resume_reads_a_changed_page_from_its_start() -> None:
    cfg = config(records_path="/data/items", pagination={"style": "page", "page_size": 4})
    items = run_pass(pager_for(cfg), FakeApi(records(8)))
    rows = records(8)
    del rows[4]  # page 2 shifts: skipping two records by index would skip record 6
    pager = pager_for(cfg, dict([items[5].position]))
    resumed = run_pass(pager, FakeApi(rows))
    assert pager.rereads == 1
    assert ids(resumed) == [5, 6, 7]


def test_resume_with_since_keeps_the_pass_values() -> None:
    cfg = config(
        records_path="/data/items",
        pagination={"style": "page", "page_size": 4},
        incremental={"field_path": "/updated_at"},
    )
    rows = records(10)
    pager = pager_for(cfg)
    run_pass(pager, FakeApi(rows))
    rows.extend(records(6, start=40))
    items = run_pass(pager, FakeApi(rows))
    assert ids(items) == list(range(40, 46))
    resumed = run_pass(pager_for(cfg, dict([items[2].position])), FakeApi(rows))
    assert ids(resumed) == [43, 44, 45]


def test_unreadable_or_foreign_checkpoints_start_over() -> None:
    assert HttpState.from_offset({"v": 99}, "page") == HttpState(style="page")
    assert HttpState.from_offset("garbage", "page", "x") == HttpState(style="page", since="x")
    old = HttpState(style="page", since="s", boundary=("ab",), page=3, index=2, last="cd", etag="e")
    moved = HttpState.from_offset(json.loads(json.dumps(old.to_offset())), "cursor")
    assert moved == HttpState(style="cursor", since="s", boundary=("ab",))
    assert HttpState.from_offset(json.loads(json.dumps(old.to_offset())), "page") == old


# --- records -------------------------------------------------------------------------------------


def test_records_ids_content_and_metadata() -> None:
    cfg = config(url=f"{BASE}?token=secret", content_template="{subject}!")
    items = run_pass(pager_for(cfg), FakeApi(records(2)))
    first = items[0]
    assert isinstance(first, Emit)
    record = RawRecord.model_validate_json(first.value)
    assert record.content == "ticket 0!"
    assert record.metadata == {"url": BASE, "page": 1, "index": 0}
    assert record.kind == "http"
    assert first.position[0] == BASE
    again = run_pass(pager_for(cfg), FakeApi(records(2)))
    assert [i.key for i in again if isinstance(i, Emit)] == [i.key for i in items if isinstance(i, Emit)]


def test_content_path_and_default_content() -> None:
    pager = pager_for(config(content_path="/body/text"))
    (item,) = pager.read(pager.next_request(), [{"id": 1, "body": {"text": "hello"}}], [], None)
    assert isinstance(item, Emit) and orjson.loads(item.value)["content"] == "hello"
    pager = pager_for(config())
    (item,) = pager.read(pager.next_request(), [{"id": 1, "a": "x"}], [], None)
    assert isinstance(item, Emit) and orjson.loads(item.value)["content"] == "id: 1\na: x"


def test_without_id_path_the_id_is_a_hash_of_the_record() -> None:
    pager = pager_for(config(id_path=None))
    a, b, c = pager.read(pager.next_request(), [{"x": 1, "y": 2}, {"y": 2, "x": 1}, {"x": 2}], [], None)
    assert isinstance(a, Emit) and isinstance(b, Emit) and isinstance(c, Emit)
    assert a.key == b.key != c.key


def test_bad_records_become_rejects_with_their_place_and_the_rest_goes_on() -> None:
    pager = pager_for(config(content_template="{n:d}"))
    body: JsonValue = [{"id": 1, "n": 5}, "text", {"name": "no id"}, {"id": 4, "n": "x"}, {"id": 5, "n": 6}]
    items = list(pager.read(pager.next_request(), body, [], None))
    kinds = [i.reason if isinstance(i, Reject) else "ok" for i in items]
    assert kinds == ["ok", "not_an_object", "missing_id", "template_failed", "ok"]
    reject = items[2]
    assert isinstance(reject, Reject)
    assert reject.where == {"url": BASE, "page": 1, "index": 2}
    assert json.loads(reject.original) == {"name": "no id"}
    assert [i.position[1]["index"] for i in items[:-1]] == [1, 2, 3, 4]  # type: ignore[index,call-overload]


def test_oversize_records_are_rejected() -> None:
    pager = pager_for(config(max_record_bytes=1024))
    (item,) = pager.read(pager.next_request(), [{"id": 1, "text": "x" * 2000}], [], None)
    assert isinstance(item, Reject) and item.reason == "record_too_large"


# --- the adapter over an in-memory transport -----------------------------------------------------


def source_with(
    handler: Callable[[httpx.Request], httpx.Response], **overrides: Any
) -> tuple[HttpSource, list[float]]:
    slept: list[float] = []
    cfg = config(max_retries=3, backoff_base_s=0.1, backoff_cap_s=1.0, retry_after_cap_s=5.0, **overrides)
    source = HttpSource(cfg, client=httpx.Client(transport=httpx.MockTransport(handler)), sleep=slept.append)
    source.open({})
    return source, slept


def scripted(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return handle


def test_adapter_retries_429_and_503_honouring_retry_after() -> None:
    source, slept = source_with(
        scripted(
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(502),
            httpx.Response(200, json=[{"id": 1}]),
        )
    )
    assert len(list(source.poll())) == 1
    assert slept[:2] == [2.0, 5.0]
    assert 0 <= slept[2] <= 0.4


def test_adapter_gives_up_after_max_retries() -> None:
    source, slept = source_with(scripted(*[httpx.Response(500)] * 4))
    with pytest.raises(SourceUnavailable, match=r"answered 500, 4 attempts made"):
        list(source.poll())
    assert len(slept) == 3


def test_adapter_retries_network_errors() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=[{"id": 1}])

    source, slept = source_with(handler)
    assert len(list(source.poll())) == 1 and len(slept) == 2


@pytest.mark.parametrize(("status", "hint"), [(401, "credentials"), (404, "check 'url'"), (400, "rejected")])
def test_adapter_does_not_retry_client_errors(status: int, hint: str) -> None:
    source, slept = source_with(scripted(httpx.Response(status)), auth={"type": "bearer", "token": "s3cret"})
    with pytest.raises(SourceUnavailable, match=hint) as caught:
        list(source.poll())
    assert slept == [] and "s3cret" not in str(caught.value)


def test_adapter_sends_auth_and_conditional_headers_and_handles_304() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, json=[{"id": 1}], headers={"ETag": '"v1"'})

    source, _ = source_with(handler, auth={"type": "bearer", "token": "tok"}, headers={"X-Tenant": "a"})
    assert len(list(source.poll())) == 1
    assert list(source.poll()) == []
    assert seen[0].headers["authorization"] == "Bearer tok" and seen[0].headers["x-tenant"] == "a"
    assert seen[1].headers["if-none-match"] == '"v1"'


def test_adapter_refuses_non_json_and_oversize_bodies() -> None:
    source, _ = source_with(scripted(httpx.Response(200, text="<html>oops</html>")))
    with pytest.raises(SourceUnavailable, match="did not answer with JSON"):
        list(source.poll())
    source, _ = source_with(
        scripted(httpx.Response(200, json=[{"id": 1, "t": "x" * 5000}])), max_response_bytes=1024
    )
    with pytest.raises(SourceUnavailable, match="max_response_bytes"):
        list(source.poll())


def test_httpx_request_log_lines_carry_no_query(caplog: pytest.LogCaptureFixture) -> None:
    source, _ = source_with(scripted(httpx.Response(200, json=[])), params={"api_key": "s3cret"})
    with caplog.at_level("INFO", logger="httpx"):
        list(source.poll())
    assert caplog.records and all("s3cret" not in r.getMessage() for r in caplog.records)
