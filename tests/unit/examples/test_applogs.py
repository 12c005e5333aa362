"""Application logs: deterministic entries, rename rotation, multi-line traces, planted leaks."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

from examples.applogs import AppLogWriter, make_entry
from examples.people import PlantedKind

ANCHOR = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
START = re.compile(r"^\d{4}-\d{2}-\d{2}")  # examples/sources.yaml's multiline start_pattern


def read_entries(folder: Path) -> list[str]:
    """Entries in write order, across app.log.N ... app.log.1, app.log."""
    files = sorted(folder.glob("app.log.*"), key=lambda p: -int(p.suffix[1:])) + [folder / "app.log"]
    entries: list[str] = []
    for path in files:
        for line in path.read_text().splitlines(keepends=True):
            if START.match(line):
                entries.append(line)
            else:
                entries[-1] += line
    return entries


def test_entries_are_deterministic() -> None:
    assert [make_entry(1, ANCHOR, i) for i in range(50)] == [make_entry(1, ANCHOR, i) for i in range(50)]
    assert make_entry(1, ANCHOR, 7) != make_entry(2, ANCHOR, 7)


def test_rotation_keeps_every_entry_in_order_with_traces_and_leaks(tmp_path: Path) -> None:
    writer = AppLogWriter(tmp_path, seed=1, entries=300, max_bytes=8 * 1024, backups=9, anchor=ANCHOR)
    written = writer.write_all()
    assert writer.rotations >= 3 and writer.deleted_files == 0
    assert (tmp_path / "app.log.1").exists()
    assert read_entries(tmp_path) == [e.text for e in written]
    traces = [e.text for e in written if "\n\tat " in e.text or "Traceback (most recent call last)" in e.text]
    assert len(traces) >= 20
    assert all(not START.match(line) for t in traces for line in t.splitlines()[1:])
    kinds = {p.kind for p in writer.planted()}
    assert {PlantedKind.EMAIL, PlantedKind.PHONE, PlantedKind.API_KEY, PlantedKind.BEARER_TOKEN} <= kinds
    assert PlantedKind.PASSWORD in kinds
    text = "".join(read_entries(tmp_path))
    assert all(p.value in text for p in writer.planted())
    assert len({e.text.split(" ", 1)[1] for e in written}) == len(written)  # no two messages alike


def test_bounded_on_disk_when_files_must_go(tmp_path: Path) -> None:
    writer = AppLogWriter(tmp_path, entries=300, max_bytes=4096, backups=2, anchor=ANCHOR)
    writer.write_all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "app.log.1", "app.log.2"]
    assert writer.deleted_files > 0
    assert all(p.stat().st_size <= 4096 + 2048 for p in tmp_path.iterdir())


def test_runs_in_a_thread_and_stops(tmp_path: Path) -> None:
    writer = AppLogWriter(tmp_path, entries=10_000, rate=200, anchor=ANCHOR).start()
    time.sleep(0.3)
    writer.stop()
    count = len(writer.written)
    assert 0 < count < 10_000
    time.sleep(0.1)
    assert len(writer.written) == count
    assert len(read_entries(tmp_path)) == count
