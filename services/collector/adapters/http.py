"""HTTP API source: sends the requests ``HttpPager`` plans, with retries, and hands it the responses.

Everything about pages, resume state and records is in ``core/http_paging.py``; this file is the wire:
auth headers, timeouts, 429 / 5xx / network errors retried (Retry-After honoured up to a cap, else
capped jittered backoff), other 4xx turned into a clear ``SourceUnavailable``, bodies size-limited
and parsed. Tokens, query strings and record contents never reach the logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from pydantic import JsonValue

from libs.common.backoff import Backoff
from services.collector.core.errors import SourceUnavailable
from services.collector.core.http import (
    HttpSourceConfig,
    auth_headers,
    is_retryable,
    parse_retry_after,
    retry_delay,
    safe_url,
)
from services.collector.core.http_paging import HttpPager, PageRequest
from services.collector.core.items import Checkpoint, Item

log = logging.getLogger(__name__)

USER_AGENT = "tuneline-collector"


@dataclass(frozen=True, slots=True)
class _Page:
    body: JsonValue
    links: list[str]
    etag: str | None


class HttpSource:
    """One API endpoint, read page by page; see ``HttpSourceConfig`` for the settings."""

    def __init__(
        self,
        config: HttpSourceConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = config.name
        self.config = config
        self._client = client
        self._owns_client = client is None
        self._sleep = sleep
        self._backoff = Backoff(config.backoff_base_s, config.backoff_cap_s)
        self._timeout = httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s)
        self._headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **config.headers,
            **auth_headers(config.auth),
        }
        self._pager: HttpPager | None = None
        _redact_httpx_log()

    @property
    def pager(self) -> HttpPager:
        if self._pager is None:
            raise RuntimeError(f"source {self.name}: open() it before polling")
        return self._pager

    def open(self, checkpoint: Checkpoint) -> None:
        self._pager = HttpPager.for_config(self.config, checkpoint.get(self.config.endpoint))
        if self._client is None:
            self._client = httpx.Client(
                timeout=self._timeout, verify=self._verify(), follow_redirects=False, trust_env=True
            )

    def poll(self) -> Iterator[Item]:
        pager = self.pager
        for _ in range(self.config.max_pages_per_pass):
            request = pager.next_request()
            page = self._fetch(request)
            if page is None:
                pager.not_modified()
                return
            yield from pager.read(request, page.body, page.links, page.etag)
            if pager.at_pass_start:
                return

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    # -- the wire --

    def _verify(self) -> ssl.SSLContext | bool:
        if self.config.ca_bundle is not None:
            return ssl.create_default_context(cafile=self.config.ca_bundle)
        return self.config.tls_verify

    def _fetch(self, request: PageRequest) -> _Page | None:
        """The page's parsed body (None for 304 Not Modified), retrying what is worth retrying."""
        client = self._client
        if client is None:
            raise RuntimeError(f"source {self.name}: open() it before polling")
        where = safe_url(request.url)
        headers = {**self._headers, **request.headers}
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                with client.stream("GET", request.url, headers=headers, timeout=self._timeout) as response:
                    status = response.status_code
                    if status == 304:
                        log.debug("source %s: %s not modified", self.name, where)
                        return None
                    if 200 <= status < 300:
                        return self._parse(response, where)
                    if not is_retryable(status):
                        raise SourceUnavailable(_refusal(self.name, where, status))
                    problem = f"answered {status}"
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"), dt.datetime.now(dt.UTC)
                    )
            except httpx.RequestError as exc:  # connect, read, timeouts, broken or undecodable responses
                problem = f"failed ({type(exc).__name__})"
            if attempt + 1 == attempts:
                raise SourceUnavailable(
                    f"source {self.name}: GET {where} {problem}, {attempts} attempts made"
                )
            delay = retry_delay(attempt, retry_after, self._backoff, self.config.retry_after_cap_s)
            log.warning(
                "source %s: GET %s %s; retry %d/%d in %.2fs",
                self.name,
                where,
                problem,
                attempt + 1,
                self.config.max_retries,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse(self, response: httpx.Response, where: str) -> _Page:
        limit = self.config.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise SourceUnavailable(_too_large(self.name, where, limit))
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise SourceUnavailable(_too_large(self.name, where, limit))
            chunks.append(chunk)
        try:
            body: JsonValue = json.loads(b"".join(chunks))
        except ValueError as exc:  # also UnicodeDecodeError
            kind = response.headers.get("content-type", "no content type")
            raise SourceUnavailable(
                f"source {self.name}: {where} did not answer with JSON ({kind}; {type(exc).__name__})"
            ) from None
        return _Page(body, response.headers.get_list("link"), response.headers.get("etag"))


def _refusal(name: str, where: str, status: int) -> str:
    if status in (401, 403):
        hint = "the API refused the credentials: check 'auth' and the token"
    elif status == 404:
        hint = "not found: check 'url'"
    elif 300 <= status < 400:
        hint = "redirected: configure the final URL (redirects are not followed, to keep credentials home)"
    else:
        hint = "the API rejected the request: check 'params', 'pagination' and 'incremental'"
    return f"source {name}: GET {where} answered {status}; {hint}"


def _too_large(name: str, where: str, limit: int) -> str:
    return f"source {name}: {where} answered with more than max_response_bytes ({limit}); use smaller pages"


class _RedactQuery(logging.Filter):
    """httpx logs every request's full URL at INFO; API keys in query strings must not reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(safe_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _redact_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())
