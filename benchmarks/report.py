"""One way for every benchmark to report its figures, and the one table ``make bench`` ends with.

A benchmark prints its own detailed output as before and, in addition, hands its headline figures to
``record(Row(...))``: each row is appended as a JSON line to the file named by ``TUNELINE_BENCH_ROWS``
(nothing happens when it is unset, so a benchmark still runs on its own). ``benchmarks/run.py`` sets the
variable, runs every benchmark and prints the rows as one table: stage, figure, value, baseline, ratio,
target. ``python -m benchmarks.report ROWS.jsonl`` prints the table of a file again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

ROWS_ENV: Final = "TUNELINE_BENCH_ROWS"


@dataclass(frozen=True)
class Row:
    """One measured figure, with the baseline it is compared to (same run, same data) and its target.

    ``ratio`` is ``value / baseline``. Targets are lower bounds: ``min_ratio`` on the ratio,
    ``min_value`` on the value; a row with neither is informative only."""

    stage: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    min_ratio: float | None = None
    min_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or not math.isfinite(self.value):
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """None when the row has no target (or its figure could not be measured)."""
        checks: list[bool] = []
        if self.min_ratio is not None:
            ratio = self.ratio
            if ratio is None:
                return None
            checks.append(ratio >= self.min_ratio)
        if self.min_value is not None:
            if not math.isfinite(self.value):
                return None
            checks.append(self.value >= self.min_value)
        return all(checks) if checks else None

    @property
    def target(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g}x")
        if self.min_value is not None:
            parts.append(f">= {self.min_value:,g} {self.unit}".rstrip())
        return ", ".join(parts) or "-"


def record(*rows: Row) -> None:
    """Append rows to the file named by ``TUNELINE_BENCH_ROWS``; a no-op when it is unset."""
    path = os.environ.get(ROWS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(asdict(row), allow_nan=True) + "\n")


def load(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _number(value: float, unit: str = "?") -> str:
    if not math.isfinite(value):
        return "n/a"
    if not unit:  # a share or a score: always three decimals
        return f"{value:.3f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def cells(row: Row) -> tuple[str, str, str, str, str, str, str]:
    """stage, figure, value, baseline, ratio, target, verdict: as text."""
    value = f"{_number(row.value, row.unit)} {row.unit}".strip()
    baseline = "-"
    if row.baseline is not None:
        label = f" ({row.baseline_label})" if row.baseline_label else ""
        baseline = _number(row.baseline, row.unit) + label
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    verdict = {True: "met", False: "MISSED", None: ""}[row.met]
    figure = row.figure + (f" [{row.note}]" if row.note else "")
    return row.stage, figure, value, baseline, ratio, row.target, verdict


def table(rows: Sequence[Row], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    for column in ("stage", "figure", "value", "baseline", "ratio", "target", ""):
        out.add_column(column, justify="right" if column in {"value", "ratio"} else "left")
    stage = None
    for row in rows:
        text = list(cells(row))
        if row.stage == stage:
            text[0] = ""
        stage = row.stage
        style = {True: "green", False: "red", None: None}[row.met]
        out.add_row(*text[:-1], f"[{style}]{text[-1]}[/{style}]" if style else text[-1])
    return out


def markdown(rows: Iterable[Row]) -> str:
    lines = ["| stage | figure | value | baseline | ratio | target | |", "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def wide_console() -> Console:
    """The terminal's width on a terminal; 160 columns into a pipe or a log (rich would use 80)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the table of a benchmark rows file.")
    parser.add_argument("rows", type=Path, help="JSON lines written by the benchmarks")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table instead")
    args = parser.parse_args()
    rows = load(args.rows)
    if args.markdown:
        Console(soft_wrap=True).out(markdown(rows), highlight=False)
    else:
        wide_console().print(table(rows, f"benchmarks ({args.rows})"))


if __name__ == "__main__":
    main()
