"""``tuneline sanitize``: RawRecord JSON lines in, SanitizedRecord JSON lines out, through the same
steps as the stream (dedup history in memory for the run)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from libs.common.deadletter import dead_letter_message
from libs.schemas import RawRecord, encode
from services.sanitizer.build import Sanitizer
from services.sanitizer.core.errors import RecordRejected, SanitizerError
from services.sanitizer.core.intake import parse_record
from services.sanitizer.core.pipeline import Dropped


class MalformedLine(SanitizerError):
    """A line that is not a RawRecord (without ``--dlq``): the run stops, naming the line."""

    def __init__(self, line: int, reason: str, detail: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}: {detail}")


@dataclass
class Summary:
    records_in: int = 0
    records_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    pii: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    structures: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        filtered = {k: v for k, v in self.dropped.items() if k.startswith("filtered:")}
        features = []
        if self.languages:
            features = [
                "languages: " + ", ".join(f"{k} {v}" for k, v in self.languages.most_common()),
                "structures: " + ", ".join(f"{k} {v}" for k, v in self.structures.most_common()),
                "filtered: " + (", ".join(f"{k} {v}" for k, v in sorted(filtered.items())) or "none"),
            ]
        return [
            f"records in: {self.records_in}, out: {self.records_out}",
            f"duplicates: {self.dropped['duplicate']}, near-duplicates: {self.dropped['near_duplicate']}",
            "dropped: " + (", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"),
            "dead letters: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters.items())) or "none"),
            "PII replaced: " + (", ".join(f"{k} {v}" for k, v in self.pii.most_common()) or "none"),
            *features,
        ]


def sanitize_file(
    source: Path,
    output: Path,
    sanitizer: Sanitizer,
    max_record_bytes: int,
    dlq: Path | None = None,
    batch_size: int = 256,
    on_progress: Callable[[int], None] | None = None,
) -> Summary:
    """Sanitize ``source`` into ``output``. A malformed line raises ``MalformedLine`` unless ``dlq`` is
    given, where its ``DeadLetter`` (reason, file and line, the line itself) is written and the run goes
    on."""
    summary = Summary()
    with output.open("wb") as out, dlq.open("wb") if dlq else _nowhere() as dead:
        batch: list[tuple[int, RawRecord]] = []
        for number, line in _lines(source):
            summary.records_in += 1
            try:
                batch.append((number, parse_record(line, max_record_bytes)))
            except RecordRejected as exc:
                if dead is None:
                    raise MalformedLine(number, exc.reason, exc.detail) from None
                _dead_letter(dead, source, number, exc.reason, exc.detail, line)
                summary.dead_letters[exc.reason] += 1
            if len(batch) >= batch_size:
                _flush(batch, sanitizer, out, dead, summary, source)
            if on_progress is not None:
                on_progress(len(line.encode()) + 1)
        _flush(batch, sanitizer, out, dead, summary, source)
    return summary


def _flush(
    batch: list[tuple[int, RawRecord]],
    sanitizer: Sanitizer,
    out: IO[bytes],
    dead: IO[bytes] | None,
    summary: Summary,
    source: Path,
) -> None:
    if not batch:
        return
    now = dt.datetime.now(dt.UTC)
    results = sanitizer.run([record for _, record in batch], now)
    for (number, record), result in zip(batch, results, strict=True):
        if isinstance(result, Dropped):
            if not result.dead_letter:
                summary.dropped[result.reason] += 1
                continue
            if dead is None:
                raise MalformedLine(number, result.reason, result.detail)
            _dead_letter(dead, source, number, result.reason, result.detail, encode(record).decode())
            summary.dead_letters[result.reason] += 1
            continue
        out.write(encode(result) + b"\n")
        summary.records_out += 1
        summary.pii.update(result.pii)
        if result.features is not None:
            summary.languages[result.features.lang] += 1
            summary.structures[result.features.structure.value] += 1
    batch.clear()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.rstrip("\r\n")
            if stripped.strip():
                yield number, stripped.encode("utf-8", "replace").decode("utf-8")


def _dead_letter(dead: IO[bytes], source: Path, line: int, reason: str, detail: str, value: str) -> None:
    letter = dead_letter_message(
        service="sanitizer",
        reason=reason,
        detail=detail,
        value=value.encode(),
        where={"file": str(source), "line": line},
    )
    dead.write(letter.value + b"\n")


class _nowhere:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
