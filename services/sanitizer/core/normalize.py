"""Normalization and cheap filters: the first steps, before anything is hashed or compared."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import orjson
import xxhash

from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import NormalizePolicy

# C0/C1 controls except \t and \n, zero-width and bidi-override characters (invisible, and a way to
# hide text from review). \r is handled first (\r\n and lone \r become \n).
_INVISIBLE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_LINE_BREAKS: Final = re.compile("\r\n?|[\u2028\u2029\u0085]")
_HSPACE: Final = re.compile(r"[^\S\n]+")  # any whitespace but a newline (tabs, NBSP, ideographic space)
_TRAILING: Final = re.compile(r" +\n")


def normalize_text(text: str, max_blank_lines: int = 1) -> str:
    """NFC, invisible and control characters removed, runs of spaces collapsed to one, line ends
    unified, blank-line runs limited, ends stripped. Idempotent."""
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _HSPACE.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = re.sub(r"\n +", "\n", text)
    text = re.sub(f"\n{{{max_blank_lines + 2},}}", "\n" * (max_blank_lines + 1), text)
    return text.strip()


def content_hash(content: str, fields: object = None) -> str:
    """xxh3-128 of the normalized content (of the canonical fields when there is no content)."""
    if content:
        return xxhash.xxh3_128_hexdigest(content.encode())
    return xxhash.xxh3_128_hexdigest(b"\x00fields\x00" + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))


class Normalizer:
    name = "normalize"

    def __init__(self, policy: NormalizePolicy) -> None:
        self._max_blank_lines = policy.max_blank_lines

    def process(self, work: Work) -> Outcome:
        work.content = normalize_text(work.content, self._max_blank_lines)
        return work


class LengthFilter:
    """Drops content too short to learn from (unless structured fields carry the record: counted and
    forgotten) and dead-letters content too long (a record cut off or misparsed upstream, which a person
    should see rather than lose silently)."""

    name = "length_filter"

    def __init__(self, policy: NormalizePolicy) -> None:
        self._min = policy.min_chars
        self._max = policy.max_chars

    def process(self, work: Work) -> Outcome:
        size = len(work.content)
        if size > self._max:
            return Dropped(work.record, "too_long", f"{size} characters, over {self._max}", dead_letter=True)
        if size == 0 and not work.fields:
            return Dropped(work.record, "empty", "no content and no fields")
        if 0 < size < self._min or (size == 0 and self._min > 0 and not work.fields):
            return Dropped(work.record, "too_short", f"{size} characters, under {self._min}")
        return work


class ContentHasher:
    name = "hash"

    def process(self, work: Work) -> Outcome:
        work.content_hash = content_hash(work.content, work.fields)
        return work
