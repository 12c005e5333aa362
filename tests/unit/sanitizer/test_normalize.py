from __future__ import annotations

import unicodedata
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from libs.schemas import RawRecord
from services.sanitizer.core.normalize import (
    ContentHasher,
    LengthFilter,
    Normalizer,
    content_hash,
    normalize_text,
)
from services.sanitizer.core.pipeline import Dropped, Work
from services.sanitizer.core.policy import NormalizePolicy


def test_nfc_controls_and_whitespace() -> None:
    text = "Cafe\u0301\u200b  bill\x07ing\t\tfailed \r\nnext\u00a0line  \n\n\n\nend  "
    assert normalize_text(text) == "Café billing failed\nnext line\n\nend"


def test_bidi_overrides_and_soft_hyphens_are_removed() -> None:
    assert normalize_text("ad\u202emin\u00ad user") == "admin user"


@given(st.text(max_size=200))
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)


def test_disguised_copies_hash_alike() -> None:
    a = normalize_text("Zoë called about order ORD-1. ")
    b = normalize_text(unicodedata.normalize("NFD", "Zoë  called about order ORD-1.\u200b"))
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 32
    assert content_hash(a) != content_hash(a + "!")


def test_empty_content_hashes_the_fields() -> None:
    assert content_hash("", {"a": 1, "b": 2}) == content_hash("", {"b": 2, "a": 1})
    assert content_hash("", {"a": 1}) != content_hash("", {"a": 2})


def test_length_filter_reasons(make_record: Callable[..., RawRecord]) -> None:
    step = LengthFilter(NormalizePolicy(min_chars=5, max_chars=20))
    short = step.process(Work.of(make_record("hey")))
    long = step.process(Work.of(make_record("x" * 21)))
    empty = step.process(Work.of(make_record("")))
    assert isinstance(short, Dropped) and short.reason == "too_short" and not short.dead_letter
    assert isinstance(long, Dropped) and long.reason == "too_long" and long.dead_letter
    assert isinstance(empty, Dropped) and empty.reason == "empty" and not empty.dead_letter
    assert isinstance(step.process(Work.of(make_record("", fields={"a": "b"}))), Work)
    assert isinstance(step.process(Work.of(make_record("just right"))), Work)


def test_steps_fill_in_the_work(make_record: Callable[..., RawRecord]) -> None:
    normalized = Normalizer(NormalizePolicy()).process(Work.of(make_record("  two   spaces ")))
    assert isinstance(normalized, Work)
    out = ContentHasher().process(normalized)
    assert isinstance(out, Work)
    assert out.content == "two spaces"
    assert out.content_hash == content_hash("two spaces")
