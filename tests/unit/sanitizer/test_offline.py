from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from libs.pii.policy import NamesPolicy
from libs.schemas import DeadLetter, RawRecord, SanitizedRecord, decode, encode
from services.cli import app
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.offline import MalformedLine, sanitize_file
from tests.unit.sanitizer.conftest import KEYS, FakeNer


def _write(path: Path, records: list[RawRecord], extra: list[str] = ()) -> None:  # type: ignore[assignment]
    lines = [encode(r).decode() for r in records] + list(extra)
    path.write_text("\n".join(lines) + "\n")


def test_file_to_file_with_dead_letters(tmp_path: Path, make_record: Callable[..., RawRecord]) -> None:
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    records = [
        make_record("mail jane@corp.io about the refund", id="a"),
        make_record("mail jane@corp.io about the refund", id="b"),
    ]
    _write(source, records[:1], ["{broken"] + [encode(records[1]).decode()])
    summary = sanitize_file(
        source, out, build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer()), 10_000, dlq=dlq
    )
    written = [decode(SanitizedRecord, line) for line in out.read_text().splitlines()]
    assert [r.id for r in written] == ["a"]
    assert "jane@corp.io" not in out.read_text()
    dead = [decode(DeadLetter, line) for line in dlq.read_text().splitlines()]
    assert [(d.where, d.reason, d.service) for d in dead] == [
        ({"file": str(source), "line": 2}, "not_json", "sanitizer")
    ]
    assert dead[0].value is not None and dead[0].value.raw() == b"{broken"
    assert (summary.records_in, summary.records_out, summary.dropped["duplicate"]) == (3, 1, 1)
    assert summary.pii["EMAIL"] == 1


def test_a_dead_lettered_first_copy_does_not_make_the_next_a_duplicate(
    tmp_path: Path, make_record: Callable[..., RawRecord]
) -> None:
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    text = "the Glitch report of the billing export came back empty again this morning"
    _write(source, [make_record(text, id=i) for i in ("first", "second", "third")])
    ner = FakeNer(fail_on="Glitch")
    sanitizer = build_sanitizer(SanitizerPolicy(), KEYS, ner=ner)

    def heal(_: int) -> None:  # the model failure is transient: only the first record meets it
        ner.fail_on = None

    summary = sanitize_file(source, out, sanitizer, 10_000, dlq=dlq, batch_size=1, on_progress=heal)
    written = [decode(SanitizedRecord, line).id for line in out.read_text().splitlines()]
    assert written == ["second"]
    assert [json.loads(line)["reason"] for line in dlq.read_text().splitlines()] == ["recognizer_error"]
    assert summary.dropped["duplicate"] == 1


def test_copies_in_one_batch_go_out_once(make_record: Callable[..., RawRecord]) -> None:
    text = (
        "the nightly export of the billing tables finished without errors again today and the report "
        "went to the finance team who will check the totals against the ledger before the month closes"
    )
    near = text + " Thanks."
    records = [
        make_record(t, id=i) for t, i in ((text, "a"), (text, "b"), (near, "c"), ("other text here", "d"))
    ]
    results = build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer()).run(records)
    assert [r.id if isinstance(r, SanitizedRecord) else r.reason for r in results] == [
        "a",
        "duplicate",
        "near_duplicate",
        "d",
    ]


def test_too_long_and_unrouted_records_are_dead_letters(
    tmp_path: Path, make_record: Callable[..., RawRecord]
) -> None:
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    policy = SanitizerPolicy.model_validate(
        {"datasets": {"default": None, "sources": {"crm": "sales"}}, "normalize": {"max_chars": 40}}
    )
    _write(
        source,
        [
            make_record("a crm note that fits", source="crm", id="ok"),
            make_record("a crm note that is much longer than forty characters", source="crm", id="long"),
            make_record("a record of a source that feeds nothing", id="unrouted"),
        ],
    )
    summary = sanitize_file(source, out, build_sanitizer(policy, KEYS, ner=FakeNer()), 10_000, dlq=dlq)
    assert [decode(SanitizedRecord, line).id for line in out.read_text().splitlines()] == ["ok"]
    dead = [decode(DeadLetter, line) for line in dlq.read_text().splitlines()]
    assert [(d.where["line"], d.reason) for d in dead] == [(2, "too_long"), (3, "no_dataset")]
    assert summary.dead_letters == {"too_long": 1, "no_dataset": 1} and not summary.dropped
    with pytest.raises(MalformedLine, match="line 2: too_long"):  # without --dlq the run stops there
        sanitize_file(source, out, build_sanitizer(policy, KEYS, ner=FakeNer()), 10_000)


def test_malformed_line_stops_with_its_number(tmp_path: Path, make_record: Callable[..., RawRecord]) -> None:
    source = tmp_path / "in.jsonl"
    _write(source, [make_record("fine record here")], ['{"id": "no-source"}'])
    with pytest.raises(MalformedLine, match="line 2: invalid_record"):
        sanitize_file(
            source, tmp_path / "out.jsonl", build_sanitizer(SanitizerPolicy(), KEYS, ner=FakeNer()), 10_000
        )


def test_cli_sanitize(
    tmp_path: Path, make_record: Callable[..., RawRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.sanitizer.settings import get_settings

    policy = tmp_path / "policy.yaml"
    policy.write_text(SanitizerPolicy(names=NamesPolicy(enabled=False)).model_dump_json())  # JSON is YAML
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(source, [make_record("call +1 415-555-0134 about INC-2041", id="a")], ["nope"])
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        failed = runner.invoke(app, ["sanitize", str(source), "-o", str(out), "--policy", str(policy)])
        assert failed.exit_code == 1 and "line 2" in failed.output
        ok = runner.invoke(
            app,
            ["sanitize", str(source), "-o", str(out), "--policy", str(policy), "--dlq", str(tmp_path / "d")],
        )
        assert ok.exit_code == 0, ok.output
        assert "records in: 2, out: 1" in ok.output and "PHONE 1" in ok.output
        (line,) = out.read_text().splitlines()
        record = decode(SanitizedRecord, line)
        assert record.id == "a" and "555-0134" not in record.content and "INC-2041" in record.content
    finally:
        get_settings.cache_clear()
