from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from libs.schemas import RawRecord, SanitizedRecord
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.errors import RecordRejected
from services.sanitizer.core.intake import parse_record
from services.sanitizer.core.pipeline import Dropped, Pipeline, Work
from services.sanitizer.core.policy import SanitizerPolicy, load_policy
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


def test_metadata_is_sanitized_with_the_shipped_policy(make_record: Callable[..., RawRecord]) -> None:
    policy = load_policy(Path(__file__).parents[3] / "config" / "sanitizer.yaml")
    sanitizer = build_sanitizer(policy, KEYS, ner=FakeNer())
    row = make_record(
        "customer row for the billing team",
        source="crm",
        kind="sql",
        fields={"email": "alice@example.com", "ssn": "123-45-6789", "seats": 3},
        metadata={"table": "public.customers", "key": {"email": "alice@example.com", "ssn": "123-45-6789"}},
    )
    line = make_record(
        "worker started in 350ms with status 200",
        source="app-logs",
        metadata={"path": "/home/alice.martin/svc/app.log", "offset": 4096, "fingerprint": "ab12cd34"},
    )
    out_row, out_line = sanitizer.run([row, line], NOW)
    assert isinstance(out_row, SanitizedRecord) and isinstance(out_line, SanitizedRecord)
    dumped = out_row.model_dump_json() + out_line.model_dump_json()
    assert "alice@example.com" not in dumped and "123-45-6789" not in dumped and "alice.martin" not in dumped
    assert out_row.metadata["table"] == "public.customers"
    assert out_row.metadata["key"] == {"email": out_row.fields["email"]}  # `ssn: drop` there too
    assert out_row.metadata["pseudonym_key_id"] == KEYS.key_id
    assert out_line.metadata["offset"] == 4096 and out_line.metadata["fingerprint"] == "ab12cd34"
    assert str(out_line.metadata["path"]).startswith("/home/<USERNAME_")


def test_ids_are_scanned_unless_known_safe(make_record: Callable[..., RawRecord]) -> None:
    policy = load_policy(Path(__file__).parents[3] / "config" / "sanitizer.yaml")
    record = make_record(
        "a ticket about an account",
        fields={"national_id": "AB123456C", "user_id": "alice@example.com", "ticket_id": "T-2024-0042"},
    )
    (out,) = build_sanitizer(policy, KEYS, ner=FakeNer()).run([record], NOW)
    assert isinstance(out, SanitizedRecord)
    assert re.fullmatch(r"<NATIONAL_ID_[0-9a-f]{8}>", str(out.fields["national_id"]))
    assert re.fullmatch(r"<EMAIL_[0-9a-f]{8}>", str(out.fields["user_id"]))
    assert out.fields["ticket_id"] == "T-2024-0042"
