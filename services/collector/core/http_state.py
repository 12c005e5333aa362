"""Where an HTTP source stands, as it goes in a checkpoint; and the small JSON helpers it needs.

The offset of an HTTP item's position is ``HttpState.to_offset()`` of the state *after* that item:

- ``page``, ``page_no``, ``index``, ``last``: the page being read (page number, offset, cursor token or
  next link; None for a pass's first page), how many of its records are handled, and a digest of the
  last one. A restart asks for that page again and skips ``index`` records only if the record at
  ``index - 1`` still has digest ``last``; if the page changed, it re-reads the whole page (duplicates
  are harmless, a skipped record would be lost). Behind a page's last record the state already points
  at the next page (or the next pass), so a restart does not fetch a finished page again.
- ``since`` and ``boundary``: the since value this pass sends, and digests of the records at exactly
  that value that an earlier pass collected (an inclusive ``since`` returns them again: they are
  skipped, and records that share the timestamp but arrived later are not).
- ``high`` and ``at_high``: the largest since value seen in this pass and the records at it; they become
  ``since`` and ``boundary`` when the pass ends.
- ``etag`` and ``etag_since``: the ETag of the first page, and the since value it was fetched with
  (If-None-Match is only meaningful for the same request).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

from pydantic import JsonValue

log = logging.getLogger(__name__)

OFFSET_VERSION: Final = 1


class _Missing(Enum):
    MISSING = "missing"


MISSING: Final = _Missing.MISSING


def parse_pointer(path: str) -> tuple[str, ...]:
    """``/data/items`` -> ``("data", "items")``; RFC 6901 escapes (``~1`` = ``/``, ``~0`` = ``~``)."""
    if path == "":
        return ()
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not a JSON pointer: write it like /data/items ('' is the whole body)")
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/"))


def resolve_pointer(document: JsonValue, tokens: tuple[str, ...]) -> JsonValue | Literal[_Missing.MISSING]:
    """The value at a parsed pointer, or ``MISSING``; array elements are addressed by their index."""
    current = document
    for token in tokens:
        if isinstance(current, dict):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return MISSING
    return current


def canonical_json(value: JsonValue) -> str:
    """One spelling per JSON value (sorted keys, no spaces), for hashing and for the dead-letter copy."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str, size: int = 8) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def compare_since(a: JsonValue, b: JsonValue) -> int | None:
    """-1, 0 or 1; None when the two cannot be ordered. Numbers compare as numbers (also when sent as
    numeric strings), ISO 8601 timestamps as instants (``...Z`` equals ``...+00:00``), other strings
    as text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return (a > b) - (a < b)
    if not (isinstance(a, str) and isinstance(b, str)):
        return None
    if _NUMBER.match(a) and _NUMBER.match(b):
        fa, fb = float(a), float(b)
        return (fa > fb) - (fa < fb)
    ta, tb = _timestamp(a), _timestamp(b)
    if ta is not None and tb is not None and (ta.tzinfo is None) == (tb.tzinfo is None):
        return (ta > tb) - (ta < tb)
    return (a > b) - (a < b)


def _timestamp(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class HttpState:
    style: str = "none"
    since: JsonValue = None
    boundary: tuple[str, ...] = ()
    page: JsonValue = None
    page_no: int = 1
    index: int = 0
    last: str | None = None
    high: JsonValue = None
    at_high: tuple[str, ...] = field(default=())
    etag: str | None = None
    etag_since: JsonValue = None

    def next_pass(self) -> HttpState:
        """The start of the next pass: what this pass saw becomes the next ``since``."""
        since, boundary = (self.high, self.at_high) if self.high is not None else (self.since, self.boundary)
        return HttpState(
            style=self.style, since=since, boundary=boundary, etag=self.etag, etag_since=self.etag_since
        )

    def to_offset(self) -> dict[str, JsonValue]:
        return {
            "v": OFFSET_VERSION,
            "style": self.style,
            "since": self.since,
            "boundary": list(self.boundary),
            "page": self.page,
            "page_no": self.page_no,
            "index": self.index,
            "last": self.last,
            "high": self.high,
            "at_high": list(self.at_high),
            "etag": self.etag,
            "etag_since": self.etag_since,
        }

    @staticmethod
    def from_offset(offset: JsonValue, style: str, initial_since: JsonValue = None) -> HttpState:
        """The state a checkpoint holds; a fresh start (everything read again) if it cannot be used."""
        fresh = HttpState(style=style, since=initial_since)
        if offset is None:
            return fresh
        try:
            state = _decode(offset)
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("unreadable HTTP checkpoint (%s); starting over, records may be sent again", exc)
            return fresh
        if state.style != style:
            log.warning("pagination changed from %s to %s; the pass starts over", state.style, style)
            return HttpState(style=style, since=state.since, boundary=state.boundary)
        return state


def _decode(offset: JsonValue) -> HttpState:
    if not isinstance(offset, dict) or offset.get("v") != OFFSET_VERSION:
        raise ValueError(f"not a version {OFFSET_VERSION} HTTP offset")
    page, page_no, index = offset["page"], offset["page_no"], offset["index"]
    if isinstance(page, bool) or (page is not None and not isinstance(page, str | int)):
        raise TypeError("page")
    if not isinstance(page_no, int) or page_no < 1 or not isinstance(index, int) or index < 0:
        raise TypeError("page_no/index")
    return HttpState(
        style=_str(offset["style"]),
        since=offset["since"],
        boundary=_digests(offset["boundary"]),
        page=page,
        page_no=page_no,
        index=index,
        last=_optional_str(offset["last"]),
        high=offset["high"],
        at_high=_digests(offset["at_high"]),
        etag=_optional_str(offset["etag"]),
        etag_since=offset["etag_since"],
    )


def _str(value: JsonValue) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _optional_str(value: JsonValue) -> str | None:
    return None if value is None else _str(value)


def _digests(value: JsonValue) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return tuple(_str(item) for item in value)
