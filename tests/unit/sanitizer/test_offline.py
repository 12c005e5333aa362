from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from libs.cli import app
from libs.schemas import RawRecord, SanitizedRecord, decode, encode
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.policy import NamesPolicy, SanitizerPolicy
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
    dead = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert [(d["line"], d["reason"]) for d in dead] == [(2, "not_json")]
    assert (summary.records_in, summary.records_out, summary.dropped["duplicate"]) == (3, 1, 1)
    assert summary.pii["EMAIL"] == 1


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
