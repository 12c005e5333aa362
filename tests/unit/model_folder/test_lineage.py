from __future__ import annotations

import json

import pytest

from libs.model_folder.lineage import (
    LineageError,
    RecordEntry,
    check_digest,
    describe_position,
    dump_entries,
    find_entry,
    parse_entries,
    record_entries,
)
from libs.model_folder.manifest import ids_digest

IDS = [f"helpdesk:{i:04x}" for i in range(50)]


def test_entries_are_sorted_and_carry_their_split() -> None:
    train = IDS[:30]
    evaluation = IDS[30:45]
    entries = record_entries(reversed(IDS), train, evaluation)
    assert [e.id for e in entries] == sorted(IDS)
    by_id = {e.id: e.split for e in entries}
    assert {i for i, s in by_id.items() if s == "train"} == set(train)
    assert {i for i, s in by_id.items() if s == "eval"} == set(evaluation)
    assert {i for i, s in by_id.items() if s == "skipped"} == set(IDS[45:])  # no text to learn from


def test_a_record_on_both_sides_or_outside_the_snapshot_is_refused() -> None:
    with pytest.raises(LineageError, match="both sides"):
        record_entries(IDS, IDS[:10], IDS[5:15])
    with pytest.raises(LineageError, match="not in the snapshot"):
        record_entries(IDS[:10], [*IDS[:5], "crm:elsewhere"], [])


def test_the_file_round_trips_and_hashes_to_the_manifest_digest() -> None:
    entries = record_entries(IDS, IDS[:40], IDS[40:])
    text = "".join(dump_entries(entries))
    assert all(json.loads(line).keys() == {"id", "split"} for line in text.splitlines())
    again = list(parse_entries(text.splitlines(keepends=True)))
    assert again == entries
    check_digest(again, ids_digest(IDS), len(IDS))  # the list is exactly the manifest's snapshot


def test_a_list_that_does_not_match_its_manifest_is_refused() -> None:
    entries = record_entries(IDS, IDS, [])
    with pytest.raises(LineageError, match="49 ids"):
        check_digest(entries[1:], ids_digest(IDS), len(IDS))
    swapped = [*entries[:-1], RecordEntry("helpdesk:zzzz", "train")]
    with pytest.raises(LineageError, match="hashes to"):
        check_digest(swapped, ids_digest(IDS), len(IDS))


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "b", "split": "train"}', '{"id": "a", "split": "train"}'], "out of order"),
        (['{"id": "a", "split": "train"}', '{"id": "a", "split": "eval"}'], "out of order or repeated"),
        (['{"id": "a", "split": "test"}'], "bad id or split"),
        (['{"id": "", "split": "train"}'], "bad id or split"),
        (['{"id": "a"}'], "not a records entry"),
        (["not json"], "not a records entry"),
    ],
)
def test_malformed_lists_are_refused_with_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(LineageError, match=message):
        list(parse_entries(lines))


def test_find_entry_stops_at_the_first_larger_id() -> None:
    entries = record_entries(IDS, IDS[:25], IDS[25:])
    assert find_entry(entries, IDS[30]) == RecordEntry(IDS[30], "eval")
    assert find_entry(entries, "helpdesk:0000x") is None
    assert find_entry(iter([RecordEntry("b", "train"), RecordEntry("a", "train")]), "a") is None


def test_positions_name_table_and_key_file_and_offset_url_and_page() -> None:
    assert (
        describe_position("sql", {"table": "tickets", "key": {"ticket_id": 42}})
        == "table tickets, key ticket_id=42"
    )
    log = describe_position(
        "log", {"path": "/var/log/app.log", "offset": 1234, "fingerprint": "ab12", "lines": 3}
    )
    assert log == "file /var/log/app.log, byte offset 1234, 3 lines (file fingerprint ab12)"
    http = describe_position("http", {"url": "http://127.0.0.1:9/articles", "page": 2, "index": 5})
    assert http == "url http://127.0.0.1:9/articles, page 2, item 5"
    assert describe_position("sql", {"where": "x"}) == "where='x'"
    assert describe_position("log", {}) == "(no position)"
