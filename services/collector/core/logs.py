"""Log files without I/O: which file is which, lines out of byte chunks, multiline records, parsers.

A file is known by a fingerprint of its first line, not by its name, so a rotation by rename keeps
its place (``app.log`` -> ``app.log.1`` is the same file) and a rotation by copytruncate starts the
truncated file afresh (its new first line is another fingerprint) while the copy keeps the offset.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import JsonValue

from services.collector.core.errors import CollectorError


class ParseError(CollectorError):
    """A line the configured parser cannot read (it goes to raw.dlq with its position)."""


def fingerprint(head: bytes, max_bytes: int) -> str | None:
    """The identity of a file from its first bytes: a hash of its first line (at most ``max_bytes``).

    None while the file has no complete first line yet: its identity is not settled, so it waits.
    """
    end = head.find(b"\n", 0, max_bytes)
    if end >= 0:
        first = head[: end + 1]
    elif len(head) >= max_bytes:
        first = head[:max_bytes]
    else:
        return None
    return hashlib.blake2b(first, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class ObservedFile:
    path: str
    fingerprint: str
    size: int


@dataclass(frozen=True, slots=True)
class PlannedRead:
    path: str
    fingerprint: str
    start: int
    truncated: bool = False


def plan_reads(
    observed: list[ObservedFile], offsets: dict[str, int], start_at: Literal["beginning", "end"]
) -> list[PlannedRead]:
    """Where to read each file from on this pass.

    - a known fingerprint continues at its offset, whatever the file is called now;
    - two paths with one fingerprint (a copy being made) are read once, from the larger;
    - a known file now shorter than its offset was truncated and rewritten with the same first line:
      it starts again from 0;
    - a new fingerprint starts at the beginning (or at the end, by configuration).
    """
    by_fingerprint: dict[str, ObservedFile] = {}
    for file in observed:
        seen = by_fingerprint.get(file.fingerprint)
        if seen is None or file.size > seen.size:
            by_fingerprint[file.fingerprint] = file
    plans = []
    for fp, file in sorted(by_fingerprint.items(), key=lambda item: item[1].path):
        if fp in offsets:
            offset = offsets[fp]
            if file.size < offset:
                plans.append(PlannedRead(file.path, fp, 0, truncated=True))
            else:
                plans.append(PlannedRead(file.path, fp, offset))
        else:
            plans.append(PlannedRead(file.path, fp, 0 if start_at == "beginning" else file.size))
    return plans


@dataclass(frozen=True, slots=True)
class Line:
    raw: bytes  # without the line break
    start: int  # byte offset of its first byte in the file
    end: int  # byte offset just after its line break


class LineSplitter:
    """Cuts byte chunks into complete lines with their offsets; an unfinished last line waits for
    the next chunk. A line longer than ``max_line_bytes`` is cut into pieces of that size."""

    def __init__(self, offset: int, max_line_bytes: int = 1 << 20) -> None:
        self.offset = offset  # file offset of the first byte not yet returned as a line
        self._pending = b""
        self._max = max_line_bytes

    def feed(self, chunk: bytes) -> Iterator[Line]:
        data = self._pending + chunk if self._pending else chunk
        pos = 0
        offset = self.offset
        find = data.find
        while True:
            end = find(b"\n", pos)
            if end < 0 or end - pos > self._max:
                if len(data) - pos >= self._max:  # an over-long line: cut a piece
                    end = pos + self._max
                    yield Line(data[pos:end], offset, offset + self._max)
                    offset += self._max
                    pos = end
                    continue
                break
            line_end = offset + (end - pos) + 1
            raw = data[pos:end]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield Line(raw, offset, line_end)
            offset = line_end
            pos = end + 1
        self._pending = data[pos:]
        self.offset = offset

    @property
    def buffered(self) -> int:
        return len(self._pending)


@dataclass(slots=True)
class Entry:
    """One log record: one line, or several joined (a stack trace)."""

    text: str
    start: int
    end: int
    lines: int = 1
    decode_errors: bool = False


def decode(raw: bytes, encoding: str) -> tuple[str, bool]:
    """Text of a line; undecodable bytes become U+FFFD and the line is flagged, never an error."""
    try:
        return raw.decode(encoding), False
    except UnicodeDecodeError:
        return raw.decode(encoding, errors="replace"), True


class MultilineJoiner:
    """Joins continuation lines to the record they continue.

    With ``start_pattern`` a line that matches starts a record and any other line continues it; with
    ``continuation_pattern`` a line that matches continues and any other starts. A record is complete
    when the next one starts, when it reaches ``max_lines``, or when ``flush()`` is called (the file
    went quiet).
    """

    def __init__(
        self, start_pattern: str | None = None, continuation_pattern: str | None = None, max_lines: int = 500
    ) -> None:
        self._start = re.compile(start_pattern) if start_pattern else None
        self._continuation = re.compile(continuation_pattern) if continuation_pattern else None
        self._max_lines = max_lines
        self._pending: Entry | None = None

    def _continues(self, text: str) -> bool:
        if self._start is not None:
            return self._start.search(text) is None
        assert self._continuation is not None  # noqa: S101 - one of the two is always set
        return self._continuation.search(text) is not None

    def push(self, text: str, start: int, end: int, decode_errors: bool = False) -> Entry | None:
        """Add a line; returns the record it completed, if any."""
        pending = self._pending
        if pending is not None and pending.lines < self._max_lines and self._continues(text):
            pending.text += "\n" + text
            pending.end = end
            pending.lines += 1
            pending.decode_errors |= decode_errors
            return None
        self._pending = Entry(text, start, end, 1, decode_errors)
        return pending

    def flush(self) -> Entry | None:
        pending, self._pending = self._pending, None
        return pending

    @property
    def pending_start(self) -> int | None:
        """Where the record still being assembled starts (a checkpoint must not pass it)."""
        return self._pending.start if self._pending is not None else None


@dataclass(frozen=True, slots=True)
class Parsed:
    content: str
    fields: dict[str, JsonValue] = field(default_factory=dict)


class PlainParser:
    def parse(self, text: str) -> Parsed:
        return Parsed(text)


class JsonLineParser:
    """A JSON object per line; the text is its ``message_field`` (or the whole line)."""

    def __init__(self, message_field: str) -> None:
        self._message = message_field

    def parse(self, text: str) -> Parsed:
        try:
            value: Any = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(value, dict):
            raise ParseError(f"a JSON {type(value).__name__}, not an object")
        message = value.get(self._message)
        return Parsed(message if isinstance(message, str) else text, value)


class RegexParser:
    """Named groups become fields; the text is the ``message_field`` group (or the whole line)."""

    def __init__(self, pattern: str, message_field: str) -> None:
        self._pattern = re.compile(pattern, re.DOTALL)
        self._message = message_field

    def parse(self, text: str) -> Parsed:
        match = self._pattern.match(text)
        if match is None:
            raise ParseError("the line does not match the source's pattern")
        groups: dict[str, JsonValue] = dict(match.groupdict())
        message = groups.get(self._message)
        return Parsed(message if isinstance(message, str) else text, groups)


Parser = PlainParser | JsonLineParser | RegexParser
