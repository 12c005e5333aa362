"""Paging through an HTTP API: plan each request, turn each response into items, keep the resume state.

``HttpPager`` is the whole behaviour of an HTTP source without the I/O: the adapter asks it for the next
request, sends it (with retries) and hands back the parsed body, the Link headers and the ETag. Its
``state`` is always the state after the last item handed out (see ``http_state`` for what it holds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Final

from pydantic import JsonValue

from libs.schemas.records import RecordKind
from services.collector.core.errors import ConversionError
from services.collector.core.http import (
    CursorPagination,
    HttpSourceConfig,
    LinkPagination,
    OffsetPagination,
    PagePagination,
    UnexpectedResponse,
    next_link,
    param_value,
    safe_url,
    same_origin,
    with_query,
    without_params,
)
from services.collector.core.http_state import (
    MISSING,
    HttpState,
    canonical_json,
    compare_since,
    digest,
    parse_pointer,
    resolve_pointer,
)
from services.collector.core.items import Item, Reject
from services.collector.core.jsonsafe import to_json_safe
from services.collector.core.records import RecordFactory
from services.collector.core.template import ContentTemplate, default_content

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PageRequest:
    url: str  # with the query: holds configured params, never log it (log ``safe_url``)
    headers: dict[str, str]  # conditional headers only; the adapter adds auth and fixed headers
    first: bool  # the first page of a pass


MAX_BOUNDARY_KEYS: Final = 1000


class HttpPager:
    """Plans the requests of one source and turns the responses into items, keeping the resume state.

    ``state`` is always the state after the last item handed out, so ``state.to_offset()`` is what a
    checkpoint behind that item holds.
    """

    def __init__(self, config: HttpSourceConfig, factory: RecordFactory, state: HttpState) -> None:
        self.config = config
        self.state = state
        self.partition = config.endpoint
        self._factory = factory
        self._records_path = parse_pointer(config.records_path)
        self._id_path = parse_pointer(config.id_path) if config.id_path is not None else None
        self._content_path = parse_pointer(config.content_path) if config.content_path is not None else None
        self._template = ContentTemplate(config.content_template) if config.content_template else None
        self._since_path = parse_pointer(config.incremental.field_path) if config.incremental else None
        self._static = {k: param_value(v) for k, v in config.params.items()}
        self._previous_page: tuple[str, ...] | None = None
        self.rereads = 0  # pages read again from their start because they changed since the checkpoint

    @staticmethod
    def for_config(config: HttpSourceConfig, offset: JsonValue) -> HttpPager:
        factory = RecordFactory(config.name, RecordKind.HTTP, config.max_record_bytes)
        initial = config.incremental.initial if config.incremental is not None else None
        return HttpPager(config, factory, HttpState.from_offset(offset, config.pagination.style, initial))

    @property
    def at_pass_start(self) -> bool:
        return self.state.page is None and self.state.index == 0

    def next_request(self) -> PageRequest:
        config, state, p = self.config, self.state, self.config.pagination
        params = dict(self._static)
        if config.incremental is not None and config.incremental.param and state.since is not None:
            params[config.incremental.param] = param_value(state.since)
        url = config.url
        if isinstance(p, PagePagination):
            page = state.page if isinstance(state.page, int) else p.start_page
            params[p.page_param] = str(page)
            if p.size_param:
                params[p.size_param] = str(p.page_size)
        elif isinstance(p, OffsetPagination):
            offset = state.page if isinstance(state.page, int) else p.start_offset
            params[p.offset_param] = str(offset)
            if p.limit_param:
                params[p.limit_param] = str(p.limit)
        elif isinstance(p, CursorPagination):
            if state.page is not None:
                params[p.cursor_param] = param_value(state.page)
            if p.size_param and p.page_size:
                params[p.size_param] = str(p.page_size)
        elif isinstance(p, LinkPagination):
            if isinstance(state.page, str):  # the next link already carries since and size
                url, params = state.page, dict(self._static)
            elif p.size_param and p.page_size:
                params[p.size_param] = str(p.page_size)
        headers = {}
        if (
            config.use_etag
            and self.at_pass_start
            and state.etag is not None
            and state.etag_since == state.since
        ):
            headers["If-None-Match"] = state.etag
        return PageRequest(with_query(url, params), headers, first=state.page is None)

    def not_modified(self) -> None:
        """A 304 on the first page: nothing changed since the previous pass, which stays as it was."""
        self._previous_page = None

    def read(
        self, request: PageRequest, body: JsonValue, link_headers: list[str], etag: str | None
    ) -> Iterator[Item]:
        """Items of one page, in order; afterwards ``state`` is at the next page or the next pass."""
        records = self._records(body)
        if request.first and self.config.use_etag:
            self.state = replace(self.state, etag=etag, etag_since=self.state.since)
        digests = [self._digest(raw) for raw in records]
        if digests and tuple(digests) == self._previous_page:
            raise UnexpectedResponse(
                f"{self.config.endpoint} returned the same records for two pages in a row: "
                f"check that the API understands the pagination settings"
            )
        self._previous_page = tuple(digests)
        done, following = self._following(request, body, link_headers, len(records))
        page_no, moved = self.state.page_no, False
        for index in range(self._resume_index(digests), len(records)):
            raw, key_digest = records[index], digests[index]
            handled = replace(self.state, index=index + 1, last=key_digest)
            counted = self._track_since(raw, key_digest, handled)
            if counted is None:  # seen by an earlier pass
                self.state = handled
                continue
            if index == len(records) - 1:  # a checkpoint behind the page's last record skips the page
                counted, moved = self._advance(counted, done, following), True
            self.state = counted
            yield self._item(raw, index, page_no, request.url)
        if not moved:
            self.state = self._advance(self.state, done, following)
        if self.at_pass_start:
            self._previous_page = None

    @staticmethod
    def _advance(state: HttpState, done: bool, following: JsonValue) -> HttpState:
        if done:
            return state.next_pass()
        return replace(state, page=following, page_no=state.page_no + 1, index=0, last=None)

    # -- inside a page --

    def _records(self, body: JsonValue) -> list[JsonValue]:
        found = resolve_pointer(body, self._records_path)
        if found is None:
            return []
        if found is MISSING or not isinstance(found, list):
            what = "nothing" if found is MISSING else f"a JSON {_json_type(found)}"
            raise UnexpectedResponse(
                f"{self.config.endpoint}: records_path {self.config.records_path!r} points at {what}, "
                f"not an array: check records_path"
            )
        return found

    def _resume_index(self, digests: list[str]) -> int:
        """Skip what a mid-page checkpoint says was handled, but only if the page still starts the same."""
        index, last = self.state.index, self.state.last
        if index == 0:
            return 0
        if last is not None and index <= len(digests) and digests[index - 1] == last:
            return index
        self.rereads += 1
        log.info(
            "source %s: the page changed since the checkpoint; reading it from its start", self.config.name
        )
        self.state = replace(self.state, index=0, last=None)
        return 0

    def _following(
        self, request: PageRequest, body: JsonValue, link_headers: list[str], count: int
    ) -> tuple[bool, JsonValue]:
        """Whether the pass ends with this page, else the marker of the next page."""
        p, page = self.config.pagination, self.state.page
        following: JsonValue = None
        done = True
        if isinstance(p, PagePagination):
            current = page if isinstance(page, int) else p.start_page
            done = count == 0 or (p.stop_on_short_page and count < p.page_size)
            following = current + 1
        elif isinstance(p, OffsetPagination):
            current = page if isinstance(page, int) else p.start_offset
            done = count == 0 or (p.stop_on_short_page and count < p.limit)
            following = current + count  # by what came back: an API may cap the limit
        elif isinstance(p, CursorPagination):
            token = resolve_pointer(body, parse_pointer(p.cursor_path))
            more = resolve_pointer(body, parse_pointer(p.has_more_path)) if p.has_more_path else True
            done = more is False or token in (None, "", MISSING) or token == page
            if token == page and token is not None:
                log.warning(
                    "source %s: the API returned the cursor it was given; the pass ends", self.config.name
                )
            following = token if isinstance(token, str | int) else None
        elif isinstance(p, LinkPagination):
            target = next_link(link_headers, request.url)
            if target is not None and not same_origin(target, self.config.url):
                raise UnexpectedResponse(
                    f"{self.config.endpoint}: the next link leaves the configured origin "
                    f"({safe_url(target)}); credentials are never sent elsewhere"
                )
            done = target is None
            following = without_params(target, set(self._static)) if target else None
        return done, following

    def _track_since(self, raw: JsonValue, key_digest: str, state: HttpState) -> HttpState | None:
        """The state with this record's since value counted; None when the record is not new."""
        if self._since_path is None:
            return state
        value = resolve_pointer(raw, self._since_path)
        if value is MISSING or value is None:
            return state
        if state.since is not None:
            order = compare_since(value, state.since)
            if order is not None and (order < 0 or (order == 0 and key_digest in state.boundary)):
                return None
            if order is None:
                return state
        if state.high is None:
            return replace(state, high=value, at_high=(key_digest,))
        order = compare_since(value, state.high)
        if order is None or order < 0:
            return state
        if order > 0:
            return replace(state, high=value, at_high=(key_digest,))
        if len(state.at_high) >= MAX_BOUNDARY_KEYS or key_digest in state.at_high:
            return state  # past the cap, boundary records are sent again next pass: harmless
        return replace(state, at_high=(*state.at_high, key_digest))

    def _digest(self, raw: JsonValue) -> str:
        key = self._natural_key(raw) if isinstance(raw, dict) else None
        return digest(key if isinstance(key, str) else canonical_json(raw))

    def _natural_key(self, raw: dict[str, JsonValue]) -> str | None:
        if self._id_path is None:
            return "json:" + digest(canonical_json(raw), size=16)
        value = resolve_pointer(raw, self._id_path)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return None

    def _item(self, raw: JsonValue, index: int, page_no: int, url: str) -> Item:
        where: dict[str, JsonValue] = {"url": safe_url(url), "page": page_no, "index": index}
        position = (self.partition, self.state.to_offset())
        if not isinstance(raw, dict):
            return self._reject(
                "not_an_object", f"a record is a JSON {_json_type(raw)}", raw, position, where
            )
        key = self._natural_key(raw)
        if not isinstance(key, str):
            detail = f"no string or integer id at {self.config.id_path}"
            return self._reject("missing_id", detail, raw, position, where)
        try:
            fields = to_json_safe(raw)
            if not isinstance(fields, dict):  # a dict always converts to a dict
                raise ConversionError("the record did not convert to an object")
            content = self._content(fields)
        except ConversionError as exc:
            return self._reject("conversion_failed", str(exc), raw, position, where)
        except (ValueError, TypeError, IndexError) as exc:
            return self._reject("template_failed", f"content template: {exc}", raw, position, where)
        return self._factory.build(key, content, fields, dict(where), position)

    def _content(self, fields: dict[str, JsonValue]) -> str:
        if self._template is not None:
            return self._template.render(fields)
        if self._content_path is not None:
            value = resolve_pointer(fields, self._content_path)
            if value is MISSING or value is None:
                return ""
            return value if isinstance(value, str) else canonical_json(value)
        return default_content(fields)

    def _reject(
        self,
        reason: str,
        detail: str,
        raw: JsonValue,
        position: tuple[str, JsonValue],
        where: dict[str, JsonValue],
    ) -> Reject:
        original = canonical_json(raw).encode()[: self.config.max_record_bytes]
        return Reject(reason, detail, position, where, original)


def _json_type(value: JsonValue) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
