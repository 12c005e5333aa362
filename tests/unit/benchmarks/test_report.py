from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import ROWS_ENV, Row, cells, load, markdown, record


def test_ratio_and_verdict_follow_the_targets() -> None:
    fast = Row("writer", "items/s", 3000.0, "items/s", 600.0, "naive", min_ratio=10)
    assert fast.ratio == pytest.approx(5.0) and fast.met is False and fast.target == ">= 10x"
    both = Row("collector", "sql", 60_000.0, "records/s", 1000.0, min_ratio=20, min_value=50_000)
    assert both.met is True and both.target == ">= 20x, >= 50,000 records/s"
    assert Row("collector", "sql", 40_000.0, "records/s", 1000.0, min_ratio=20, min_value=50_000).met is False
    assert Row("codec", "encode", 5.0, "records/s", 2.0).met is None  # informative only
    assert Row("sanitizer", "recall", 0.96, "", min_value=0.95).met is True
    assert Row("x", "no baseline", 1.0, "", 0.0, min_ratio=1).met is None  # cannot be judged


def test_cells_show_value_baseline_ratio_and_verdict() -> None:
    row = Row("writer", "items/s into dynalite", 2967.4, "items/s", 696.0, "naive put_item", min_ratio=10)
    assert cells(row) == ("writer", "items/s into dynalite", "2,967 items/s", "696 (naive put_item)",
                          "4.26x", ">= 10x", "MISSED")  # fmt: skip
    assert cells(Row("s", "recall", math.nan, "", min_value=0.9))[2] == "n/a"


def test_rows_reach_the_file_only_when_the_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rows.jsonl"
    monkeypatch.delenv(ROWS_ENV, raising=False)
    record(Row("a", "b", 1.0, "u"))
    assert not path.exists()
    monkeypatch.setenv(ROWS_ENV, str(path))
    rows = [Row("a", "b", 1.0, "u", 0.5, "half", min_ratio=2), Row("c", "d", math.nan, "u")]
    record(rows[0])
    record(rows[1])  # appended, as each benchmark process does
    again = load(path)
    assert again[0] == rows[0] and again[1].figure == "d" and math.isnan(again[1].value)
    assert (
        len(path.read_text().splitlines()) == 2
        and json.loads(path.read_text().splitlines()[0])["stage"] == "a"
    )


def test_markdown_has_one_line_per_row() -> None:
    text = markdown([Row("a", "x | y", 1.0, "u"), Row("b", "z", 2.0, "u", 1.0)])
    lines = text.splitlines()
    assert lines[0].startswith("| stage | figure") and len(lines) == 4
    assert "x \\| y" in lines[2] and "2.00x" in lines[3]


def test_the_runner_prints_one_table_of_what_the_benchmarks_reported(tmp_path: Path) -> None:
    """Run the real runner on the codec benchmark at a tiny size: its rows come back as the table."""
    rows = tmp_path / "rows.jsonl"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "benchmarks.run", "--only", "codec", "--quick", "--rows", str(rows),
         "--markdown", str(tmp_path / "bench.md")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r.figure for r in load(rows)] == ["RawRecord encode", "RawRecord decode"]
    assert "tuneline benchmarks, quick sizes" in done.stdout and "RawRecord encode" in done.stdout
    assert (tmp_path / "bench.md").read_text().count("| codec |") == 2
