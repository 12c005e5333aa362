"""Log-file core: fingerprints and rotation, line splitting, multiline joining, parsers."""

from __future__ import annotations

import pytest

from services.collector.core.logs import (
    JsonLineParser,
    LineSplitter,
    MultilineJoiner,
    ObservedFile,
    ParseError,
    PlannedRead,
    RegexParser,
    decode,
    fingerprint,
    plan_reads,
)


def test_fingerprint_waits_for_a_first_line_then_stays_the_same_as_the_file_grows() -> None:
    assert fingerprint(b"2026-01-01 start", 64) is None
    first = fingerprint(b"2026-01-01 start\n", 64)
    assert first is not None
    assert fingerprint(b"2026-01-01 start\nmore lines\nand more\n", 64) == first
    assert fingerprint(b"2026-01-01 other\n", 64) != first
    long_line = b"x" * 100
    assert fingerprint(long_line, 64) == fingerprint(long_line + b"y", 64)  # capped at max_bytes


def test_rotation_by_rename_keeps_the_offset_under_the_new_name() -> None:
    offsets = {"f1": 500}
    plan = plan_reads(
        [ObservedFile("/l/app.log", "f2", 10), ObservedFile("/l/app.log.1", "f1", 800)], offsets, "beginning"
    )
    assert plan == [PlannedRead("/l/app.log", "f2", 0), PlannedRead("/l/app.log.1", "f1", 500)]


def test_copytruncate_reads_the_copy_on_and_the_truncated_file_afresh() -> None:
    # app.log was copied to app.log.1 (same first line) and truncated; new lines have a new first line.
    observed = [ObservedFile("/l/app.log", "new", 40), ObservedFile("/l/app.log.1", "old", 1000)]
    assert plan_reads(observed, {"old": 900}, "beginning") == [
        PlannedRead("/l/app.log", "new", 0),
        PlannedRead("/l/app.log.1", "old", 900),
    ]


def test_truncated_and_rewritten_with_the_same_first_line_starts_again() -> None:
    plan = plan_reads([ObservedFile("/l/app.log", "same", 100)], {"same": 900}, "beginning")
    assert plan == [PlannedRead("/l/app.log", "same", 0, truncated=True)]


def test_a_copy_in_progress_is_read_once_from_the_larger_file() -> None:
    observed = [ObservedFile("/l/a.log", "fp", 300), ObservedFile("/l/a.log.copy", "fp", 120)]
    assert plan_reads(observed, {}, "beginning") == [PlannedRead("/l/a.log", "fp", 0)]


def test_new_files_start_at_the_end_when_configured() -> None:
    assert plan_reads([ObservedFile("/l/a.log", "fp", 300)], {}, "end") == [
        PlannedRead("/l/a.log", "fp", 300)
    ]


def test_line_splitter_keeps_offsets_across_chunks_and_waits_for_unfinished_lines() -> None:
    splitter = LineSplitter(offset=100)
    lines = list(splitter.feed(b"one\ntw"))
    assert [(x.raw, x.start, x.end) for x in lines] == [(b"one", 100, 104)]
    lines = list(splitter.feed(b"o\r\nthree"))
    assert [(x.raw, x.start, x.end) for x in lines] == [(b"two", 104, 109)]
    assert splitter.offset == 109 and splitter.buffered == 5
    assert list(splitter.feed(b"")) == []


def test_line_splitter_cuts_over_long_lines() -> None:
    splitter = LineSplitter(offset=0, max_line_bytes=4)
    lines = list(splitter.feed(b"abcdefghij\nxy\n"))
    assert [x.raw for x in lines] == [b"abcd", b"efgh", b"ij", b"xy"]
    assert [x.start for x in lines] == [0, 4, 8, 11]


def test_multiline_joins_continuations_to_the_record_they_continue() -> None:
    joiner = MultilineJoiner(start_pattern=r"^\d{4}-")
    out = []
    for i, text in enumerate(["2026-01-01 boom", "Traceback:", "  File x", "2026-01-01 next"]):
        done = joiner.push(text, i * 10, i * 10 + 10)
        if done:
            out.append(done)
    assert [(e.text, e.start, e.end, e.lines) for e in out] == [
        ("2026-01-01 boom\nTraceback:\n  File x", 0, 30, 3)
    ]
    assert joiner.pending_start == 30
    last = joiner.flush()
    assert last is not None and last.text == "2026-01-01 next" and joiner.pending_start is None


def test_multiline_with_a_continuation_pattern_and_a_line_cap() -> None:
    joiner = MultilineJoiner(continuation_pattern=r"^\s", max_lines=2)
    done = [joiner.push(t, i, i + 1) for i, t in enumerate(["a", " b", " c", "d"])]
    assert [d.text if d else None for d in done] == [None, None, "a\n b", " c"]


def test_undecodable_bytes_are_replaced_and_flagged() -> None:
    assert decode(b"ok \xc3\xa9", "utf-8") == ("ok é", False)
    text, bad = decode(b"bad \xff\xfe", "utf-8")
    assert bad and "\ufffd" in text


def test_json_parser_takes_objects_and_refuses_the_rest() -> None:
    parser = JsonLineParser("msg")
    parsed = parser.parse('{"msg": "hello", "level": "info"}')
    assert parsed.content == "hello" and parsed.fields == {"msg": "hello", "level": "info"}
    assert parser.parse('{"other": 1}').content == '{"other": 1}'
    with pytest.raises(ParseError, match="not JSON"):
        parser.parse("plain text")
    with pytest.raises(ParseError, match="list"):
        parser.parse("[1, 2]")


def test_regex_parser_maps_named_groups_to_fields() -> None:
    parser = RegexParser(r"(?P<ts>\S+) (?P<level>[A-Z]+) (?P<message>.*)", "message")
    parsed = parser.parse("2026-01-01T00:00:00Z ERROR disk full\n  at line 3")
    assert parsed.fields["level"] == "ERROR"
    assert parsed.content == "disk full\n  at line 3"
    with pytest.raises(ParseError):
        parser.parse("no match here")
