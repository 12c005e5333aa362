from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest

from libs.schemas import RawRecord, SanitizedRecord
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.errors import RecordRejected
from services.sanitizer.core.intake import parse_record
from services.sanitizer.core.pipeline import Dropped, Pipeline, Work
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import KEYS, FakeNer

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def test_end_to_end_offline(make_record: Callable[..., RawRecord]) -> None:
    sanitizer = build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer())
    text = "Hi Anna, the invoice for order ORD-2024-88231 went to anna.k@example.com at 2025-05-01 12:00:00."
    records = [
        make_record(text, id="first"),
        make_record("  " + text.replace(" ", "  ") + "\u200b", id="copy"),  # equal once normalized
        make_record("ok", id="short"),
        make_record("the deploy of billing v2.4.1 finished in 350ms with status 200", id="clean"),
    ]
    results = sanitizer.run(records, NOW)
    first, copy, short, clean = results
    assert isinstance(first, SanitizedRecord)
    assert first.id == "first" and first.dataset == "general" and first.sanitized_at == NOW
    assert re.fullmatch(
        r"Hi <PERSON_[0-9a-f]{8}>, the invoice for order ORD-2024-88231 went to <EMAIL_[0-9a-f]{8}> "
        r"at 2025-05-01 12:00:00\.",
        first.content,
    )
    assert first.pii == {"PERSON": 1, "EMAIL": 1}
    assert first.metadata["pseudonym_key_id"] == KEYS.key_id
    assert isinstance(copy, Dropped) and copy.reason == "duplicate"
    assert isinstance(short, Dropped) and short.reason == "too_short"
    assert isinstance(clean, SanitizedRecord) and clean.content == records[3].content and clean.pii == {}


def test_pseudonyms_are_consistent_across_records(make_record: Callable[..., RawRecord]) -> None:
    sanitizer = build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer())
    a, b = sanitizer.run(
        [make_record("ticket from bob@corp.io, urgent"), make_record("bob@corp.io wrote again")]
    )
    assert isinstance(a, SanitizedRecord) and isinstance(b, SanitizedRecord)
    assert re.findall(r"<EMAIL_\w+>", a.content) == re.findall(r"<EMAIL_\w+>", b.content)


def test_unrouted_source_is_dropped(make_record: Callable[..., RawRecord]) -> None:
    policy = SanitizerPolicy.model_validate({"datasets": {"default": None}})
    (out,) = build_sanitizer(policy, KEYS, ner=FakeNer()).run([make_record("some text long enough")])
    assert isinstance(out, Dropped) and out.reason == "no_dataset"


def test_pipeline_reports_each_stage(make_record: Callable[..., RawRecord]) -> None:
    seen: list[tuple[str, int]] = []

    class Upper:
        name = "upper"

        def process(self, work: Work) -> Work:
            work.content = work.content.upper()
            return work

    pipeline = Pipeline([Upper()], observe=lambda step, seconds, n: seen.append((step, n)))
    out = pipeline.run_one(Work.of(make_record("abc")))
    assert isinstance(out, Work) and out.content == "ABC" and seen == [("upper", 1)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not_json"),
        (b'{"id": "x"}', "invalid_record"),
        (b"[1, 2]", "invalid_record"),
        (b'{"id": "x", "source": "s", "kind": "log", "content": "' + b"a" * 2000 + b'"}', "oversize"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_record(data, max_bytes=1024)
    assert caught.value.reason == reason
