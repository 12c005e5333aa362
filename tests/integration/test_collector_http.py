"""HttpSource against a real HTTP server (FastAPI under uvicorn on 127.0.0.1): every pagination style,
since and ETag, resume from a mid-page checkpoint, retried faults, refused credentials. No Kafka here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from libs.devstack.servers import free_port
from libs.schemas.records import RawRecord
from services.collector.adapters.http import HttpSource
from services.collector.core.errors import SourceUnavailable
from services.collector.core.http import HttpSourceConfig
from services.collector.core.items import Emit, Item
from tests.integration.collector_http_app import RunningApi, make_records, serve_api

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"
N = 157  # not a multiple of any page size

STYLES: dict[str, dict[str, Any]] = {
    "none": {"path": "/items"},
    "page": {
        "path": "/paged",
        "records_path": "/data/items",
        "pagination": {"style": "page", "page_size": 20},
    },
    "offset": {  # asks for 100, the server caps pages at 50: offsets must follow what came back
        "path": "/offset",
        "records_path": "/data/items",
        "pagination": {"style": "offset", "limit": 100},
    },
    "cursor": {
        "path": "/cursor",
        "records_path": "/items",
        "pagination": {
            "style": "cursor",
            "cursor_path": "/next_cursor",
            "size_param": "limit",
            "page_size": 20,
        },
    },
    "link": {"path": "/link", "pagination": {"style": "link", "size_param": "per_page", "page_size": 20}},
}


@pytest.fixture
def api() -> Iterator[RunningApi]:
    with serve_api(make_records(N), token=TOKEN) as running:
        yield running


def source_for(api: RunningApi, style: str, **overrides: Any) -> tuple[HttpSource, list[float]]:
    settings = dict(STYLES[style])
    values: dict[str, Any] = {
        "name": f"api-{style}",
        "kind": "http",
        "url": api.url(settings.pop("path")),
        "auth": {"type": "bearer", "token": TOKEN},
        "id_path": "/id",
        "content_template": "{subject}\n{body}",
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        **settings,
        **overrides,
    }
    slept: list[float] = []
    source = HttpSource(HttpSourceConfig.model_validate(values), sleep=slept.append)
    return source, slept


def emitted(items: list[Item]) -> list[RawRecord]:
    assert all(isinstance(item, Emit) for item in items), [i for i in items if not isinstance(i, Emit)]
    return [RawRecord.model_validate_json(item.value) for item in items if isinstance(item, Emit)]


def ids(items: list[Item]) -> list[str]:
    return [str(record.fields["id"]) for record in emitted(items)]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_collects_every_record_exactly_once(api: RunningApi, style: str) -> None:
    source, _ = source_for(api, style)
    source.open({})
    try:
        items = list(source.poll())
    finally:
        source.close()
    records = emitted(items)
    assert Counter(ids(items)) == Counter(f"T-{i:06d}" for i in range(N))
    assert len({r.id for r in records}) == N
    first = records[0]
    assert first.content == "Ticket 0: VPN drops\nThe VPN drops every 0 minutes."
    assert first.metadata["url"] == api.url(STYLES[style]["path"])  # no query, no credentials
    assert all(TOKEN.encode() not in item.value for item in items if isinstance(item, Emit))


@pytest.mark.parametrize("style", ["page", "cursor", "link"])
def test_second_pass_with_since_yields_nothing_new_then_only_new_records(api: RunningApi, style: str) -> None:
    source, _ = source_for(api, style, incremental={"field_path": "/updated_at", "param": "since"})
    source.open({})
    first = ids(list(source.poll()))
    assert len(first) == N
    assert list(source.poll()) == []
    late = make_records(1, start=N - 1)[0] | {"id": "T-late"}  # same timestamp as the last record
    api.state.add([late, *make_records(4, start=1000)])
    assert sorted(ids(list(source.poll()))) == ["T-001000", "T-001001", "T-001002", "T-001003", "T-late"]
    assert list(source.poll()) == []
    assert any("since=" in query for query in api.state.queries)
    source.close()


def test_second_pass_with_etag_gets_304(api: RunningApi) -> None:
    source, _ = source_for(api, "none")
    source.open({})
    assert len(list(source.poll())) == N
    assert list(source.poll()) == []
    assert api.state.statuses[-1] == 304
    api.state.add(make_records(1, start=5000))
    assert len(list(source.poll())) == N + 1  # no since: a changed collection is read whole
    source.close()


@pytest.mark.parametrize("style", sorted(STYLES))
def test_resume_from_a_mid_page_checkpoint_loses_nothing(api: RunningApi, style: str) -> None:
    source, _ = source_for(api, style)
    source.open({})
    items = list(source.poll())
    source.close()
    cut = 37  # mid-page for every page size used here
    offset = items[cut].position[1]
    assert isinstance(offset, dict) and isinstance(offset["index"], int) and offset["index"] > 0
    restarted, _ = source_for(api, style)
    restarted.open(dict([items[cut].position]))
    resumed = list(restarted.poll())
    restarted.close()
    assert sorted(ids(items[: cut + 1]) + ids(resumed)) == sorted(f"T-{i:06d}" for i in range(N))


def test_429_and_503_are_retried_honouring_retry_after(api: RunningApi) -> None:
    api.state.fail(503, times=2)
    api.state.fail(429, retry_after="1")
    source, slept = source_for(api, "cursor")
    source.open({})
    assert len(ids(list(source.poll()))) == N
    source.close()
    assert api.state.statuses[:4] == [503, 503, 429, 200]
    assert len(slept) == 3 and slept[2] == 1.0 and all(s <= 0.05 for s in slept[:2])


def test_a_failing_api_makes_the_source_unavailable_after_max_retries(api: RunningApi) -> None:
    api.state.fail(500, times=10)
    source, slept = source_for(api, "page")
    source.open({})
    with pytest.raises(SourceUnavailable, match="answered 500, 4 attempts made"):
        list(source.poll())
    source.close()
    assert len(slept) == 3


def test_faults_mid_pass_are_retried_without_losing_records(api: RunningApi) -> None:
    source, _ = source_for(api, "page")
    source.open({})
    poll = source.poll()
    head = [next(poll) for _ in range(30)]  # into the second page
    api.state.fail(502, times=2)
    rest = list(poll)
    source.close()
    assert sorted(ids(head + rest)) == sorted(f"T-{i:06d}" for i in range(N))


def test_a_bad_token_is_refused_clearly(api: RunningApi) -> None:
    source, slept = source_for(api, "page", auth={"type": "bearer", "token": "wrong-token"})
    source.open({})
    with pytest.raises(SourceUnavailable, match="401; the API refused the credentials") as caught:
        list(source.poll())
    source.close()
    assert "wrong-token" not in str(caught.value)
    assert slept == []


def test_a_server_that_is_not_there_is_unavailable() -> None:
    values = {
        "name": "gone",
        "kind": "http",
        "url": f"http://127.0.0.1:{free_port()}/items",
        "max_retries": 1,
    }
    source = HttpSource(HttpSourceConfig.model_validate(values), sleep=lambda s: None)
    source.open({})
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        list(source.poll())
    source.close()
