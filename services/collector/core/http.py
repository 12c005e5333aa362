"""HTTP API sources: configuration, and the pure pieces of HTTP they need (URLs, Link, Retry-After).

An HTTP source reads one endpoint in *passes*. A pass asks for the first page (with the ``since`` value
the previous pass learned, and ``If-None-Match`` when the previous first page carried an ETag), then
follows the pagination style until the API says there is nothing more. ``http_paging.HttpPager`` plans
every request and turns every response into items; what a restart needs is an ``http_state.HttpState``,
written into every item's position. The adapter (``adapters/http.py``) only sends the requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Final, Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import Field, JsonValue, SecretStr, field_validator, model_validator

from libs.common.backoff import Backoff
from services.collector.core.errors import SourceUnavailable
from services.collector.core.http_state import canonical_json, parse_pointer
from services.collector.core.source import SourceBase, _Config

log = logging.getLogger(__name__)

_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class UnexpectedResponse(SourceUnavailable):
    """The API answered, but not with what the configuration describes (no records array, a loop...)."""


# --- configuration -------------------------------------------------------------------------------


class BearerAuth(_Config):
    type: Literal["bearer"]
    token: SecretStr = Field(
        description="Sent as 'Authorization: Bearer <token>'; use token_env / token_file."
    )


class BasicAuth(_Config):
    type: Literal["basic"]
    username: str
    password: SecretStr = Field(description="Use password_env / password_file.")


class HeaderAuth(_Config):
    type: Literal["header"]
    header: str = Field(description="Header that carries the key, e.g. X-API-Key.")
    token: SecretStr = Field(description="The key; use token_env / token_file.")

    @field_validator("header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid header name")
        return value


HttpAuth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]


class NoPagination(_Config):
    style: Literal["none"] = "none"


class PagePagination(_Config):
    style: Literal["page"]
    page_param: str = "page"
    size_param: str | None = Field(default="per_page", description="None: let the API choose the size.")
    page_size: int = Field(default=100, ge=1)
    start_page: int = 1
    stop_on_short_page: bool = Field(
        default=False, description="Stop after a page shorter than page_size (saves the final empty page)."
    )


class OffsetPagination(_Config):
    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str | None = Field(default="limit", description="None: let the API choose the size.")
    limit: int = Field(default=100, ge=1)
    start_offset: int = Field(default=0, ge=0)
    stop_on_short_page: bool = False


class CursorPagination(_Config):
    style: Literal["cursor"]
    cursor_path: str = Field(description="Where the next page's token is in the body, e.g. /meta/next.")
    cursor_param: str = "cursor"
    has_more_path: str | None = Field(default=None, description="A boolean in the body, e.g. /has_more.")
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)


class LinkPagination(_Config):
    """RFC 8288 ``Link: <...>; rel="next"`` headers (GitHub, GitLab, many REST APIs)."""

    style: Literal["link"]
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)


Pagination = Annotated[
    NoPagination | PagePagination | OffsetPagination | CursorPagination | LinkPagination,
    Field(discriminator="style"),
]


class Incremental(_Config):
    """Each pass asks only for records whose ``field_path`` is at least the largest value seen before."""

    field_path: str = Field(description="The increasing field of a record, e.g. /updated_at.")
    param: str | None = Field(
        default="since", description="Query parameter for the value; None: filter on the client only."
    )
    initial: str | int | float | None = Field(default=None, description="Value for the very first pass.")


class HttpSourceConfig(SourceBase):
    kind: Literal["http"]
    url: str = Field(description="The endpoint, http(s)://host/path (a fixed query is allowed).")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Fixed query.")
    headers: dict[str, str] = Field(default_factory=dict, description="Fixed request headers.")
    auth: HttpAuth | None = None
    records_path: str = Field(default="", description="JSON pointer to the records array; '' = the body.")
    id_path: str | None = Field(
        default=None, description="JSON pointer to a record's id; default: a hash of the whole record."
    )
    content_path: str | None = Field(
        default=None, description="JSON pointer to the text to learn from (instead of content_template)."
    )
    pagination: Pagination = Field(default_factory=NoPagination)
    incremental: Incremental | None = None
    etag: bool | None = Field(
        default=None,
        description="Send If-None-Match on a pass's first page; default: only without pagination "
        "(a 304 on the first page ends the pass, so the first page must change whenever anything does).",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=50, description="Retries of a 429, 5xx or network error.")
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=30.0, gt=0)
    retry_after_cap_s: float = Field(default=60.0, ge=0, description="Longest Retry-After honoured.")
    max_pages_per_pass: int = Field(
        default=1000, ge=1, description="Pages read by one poll; the next poll goes on from there."
    )
    max_response_bytes: int = Field(default=64 << 20, ge=1024)
    tls_verify: bool = True
    ca_bundle: str | None = Field(default=None, description="PEM file of the CAs to trust.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("needs an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in 'auth', not in the URL")
        if parts.fragment:
            raise ValueError("a URL fragment is never sent; remove it")
        return value

    @field_validator("records_path", "id_path", "content_path")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None:
            parse_pointer(value)
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpSourceConfig:
        if self.content_template is not None and self.content_path is not None:
            raise ValueError("give at most one of 'content_template' and 'content_path'")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("'backoff_cap_s' must be at least 'backoff_base_s'")
        pagination = self.pagination
        if isinstance(pagination, CursorPagination):
            parse_pointer(pagination.cursor_path)
            if pagination.has_more_path is not None:
                parse_pointer(pagination.has_more_path)
        if isinstance(pagination, CursorPagination | LinkPagination) and (
            (pagination.size_param is None) != (pagination.page_size is None)
        ):
            raise ValueError("give both or neither of 'pagination.size_param' and 'pagination.page_size'")
        if isinstance(pagination, PagePagination | OffsetPagination) and pagination.stop_on_short_page:
            size_param = (
                pagination.size_param if isinstance(pagination, PagePagination) else pagination.limit_param
            )
            if size_param is None:
                raise ValueError("'stop_on_short_page' needs the size parameter, or a short page is a guess")
        if self.incremental is not None:
            parse_pointer(self.incremental.field_path)
        taken = set(_control_params(self))
        if clash := taken & set(self.params):
            raise ValueError(f"'params' sets {sorted(clash)}, which pagination or incremental controls")
        auth_header = _auth_header_name(self)
        if auth_header and auth_header.lower() in {name.lower() for name in self.headers}:
            raise ValueError(f"'headers' sets {auth_header}, which 'auth' controls")
        return self

    @property
    def use_etag(self) -> bool:
        return self.etag if self.etag is not None else isinstance(self.pagination, NoPagination)

    @property
    def endpoint(self) -> str:
        """The URL without query or credentials: safe in logs, metadata and checkpoints."""
        return safe_url(self.url)


def _control_params(config: HttpSourceConfig) -> list[str]:
    p = config.pagination
    names: list[str | None] = []
    if isinstance(p, PagePagination):
        names = [p.page_param, p.size_param]
    elif isinstance(p, OffsetPagination):
        names = [p.offset_param, p.limit_param]
    elif isinstance(p, CursorPagination):
        names = [p.cursor_param, p.size_param]
    elif isinstance(p, LinkPagination):
        names = [p.size_param]
    if config.incremental is not None:
        names.append(config.incremental.param)
    return [name for name in names if name is not None]


def _auth_header_name(config: HttpSourceConfig) -> str | None:
    if config.auth is None:
        return None
    return config.auth.header if isinstance(config.auth, HeaderAuth) else "Authorization"


# --- URLs, headers -------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """``scheme://host[:port]/path``: no credentials, no query (where API keys often hide)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` set (replacing parameters of the same name, keeping the others)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode([*kept, *params.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def without_params(url: str, names: set[str]) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def param_value(value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return canonical_json(value)


def auth_headers(auth: BearerAuth | BasicAuth | HeaderAuth | None) -> dict[str, str]:
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    if isinstance(auth, HeaderAuth):
        return {auth.header: auth.token.get_secret_value()}
    return {}


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    params: dict[str, str]

    @property
    def rels(self) -> set[str]:
        return {rel.lower() for rel in self.params.get("rel", "").split()}


_LINK_PARAM = re.compile(r"""\s*;\s*([^\s=;,]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?""")


def parse_link_header(value: str) -> list[Link]:
    """RFC 8288 links: ``<url>; rel="next"; title="a, b", <url2>; rel=last``. Malformed parts are skipped."""
    links: list[Link] = []
    pos, end = 0, len(value)
    while pos < end:
        start = value.find("<", pos)
        close = value.find(">", start + 1) if start >= 0 else -1
        if close < 0:
            break
        url, pos = value[start + 1 : close].strip(), close + 1
        params: dict[str, str] = {}
        while match := _LINK_PARAM.match(value, pos):
            name, raw = match.group(1).lower(), (match.group(2) or "").strip()
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params.setdefault(name, raw)  # RFC 8288: only the first occurrence of a parameter counts
            pos = match.end()
        links.append(Link(url, params))
        comma = value.find(",", pos)
        if comma < 0:
            break
        pos = comma + 1
    return links


def next_link(link_headers: list[str], base_url: str) -> str | None:
    """The absolute URL of ``rel="next"``, resolved against the request's URL; None on the last page."""
    for link in parse_link_header(",".join(link_headers)):
        if "next" in link.rels and link.url:
            return urljoin(base_url, link.url)
    return None


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


# --- retries -------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date; None if absent or bad."""
    if value is None or not (value := value.strip()):
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def is_retryable(status: int) -> bool:
    """429, 408 and server errors are worth another try; other 4xx are the request's fault."""
    return status in (408, 429) or (status >= 500 and status not in (501, 505))


def retry_delay(attempt: int, retry_after: float | None, backoff: Backoff, retry_after_cap_s: float) -> float:
    """The server's Retry-After when it gave one (capped), else capped exponential backoff with jitter."""
    if retry_after is not None:
        return min(retry_after, retry_after_cap_s)
    return backoff.delay(attempt)
