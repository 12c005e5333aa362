"""Lineage: which records a model learned from, and which models learned from a record.

A run writes ``records.jsonl`` beside its weights (named by the manifest's ``records_file``): one line per
record of its snapshot, sorted by id, ``{"id": ..., "split": "train" | "eval" | "skipped"}``. The set of
ids hashes to the manifest's ``data.ids_digest``, so the list can be checked against the manifest it came
with. The list is what makes forgetting possible later: to erase a subject, delete their records from the
records table, find every model whose list holds one of them (``runs_using``), and retrain those datasets
(a new snapshot no longer holds the deleted records) before retiring the old models.

Pure code: no DynamoDB, no files; ``services.trainer.adapters.lineage`` reads them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from libs.model_folder.manifest import ids_digest

Split = Literal["train", "eval", "skipped"]
SPLITS: Final[frozenset[str]] = frozenset({"train", "eval", "skipped"})


class LineageError(ValueError):
    """A records list that is malformed or does not match its manifest."""


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One record of a run's snapshot and the side it was on."""

    id: str
    split: Split


def record_entries(ids: Iterable[str], train: Iterable[str], evaluation: Iterable[str]) -> list[RecordEntry]:
    """Every snapshot id with its side, sorted by id: in ``train``, in ``evaluation``, else skipped
    (a record with no text to learn from)."""
    train_ids, eval_ids = set(train), set(evaluation)
    if train_ids & eval_ids:
        raise LineageError(f"{len(train_ids & eval_ids)} records are on both sides of the split")
    entries = []
    for record_id in sorted(set(ids)):
        split: Split = "train" if record_id in train_ids else "eval" if record_id in eval_ids else "skipped"
        entries.append(RecordEntry(record_id, split))
    missing = (train_ids | eval_ids) - {e.id for e in entries}
    if missing:
        raise LineageError(f"{len(missing)} split records are not in the snapshot, e.g. {min(missing)!r}")
    return entries


def dump_entries(entries: Iterable[RecordEntry]) -> Iterator[str]:
    """JSON lines (newline included) of ``records.jsonl``."""
    for entry in entries:
        yield json.dumps({"id": entry.id, "split": entry.split}, ensure_ascii=False) + "\n"


def parse_entries(lines: Iterable[str]) -> Iterator[RecordEntry]:
    """Read ``records.jsonl`` lines back; raises ``LineageError`` on a malformed or out-of-order line
    (the file is sorted by id and has each id once)."""
    previous: str | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            record_id, split = row["id"], row["split"]
        except (ValueError, KeyError, TypeError) as exc:
            raise LineageError(f"line {number}: not a records entry ({exc})") from None
        if not isinstance(record_id, str) or not record_id or split not in SPLITS:
            raise LineageError(f"line {number}: bad id or split {split!r}")
        if previous is not None and record_id <= previous:
            raise LineageError(f"line {number}: {record_id!r} is out of order or repeated")
        previous = record_id
        yield RecordEntry(record_id, split)


def check_digest(entries: list[RecordEntry], expected: str, record_count: int) -> None:
    """The list must be exactly the snapshot the manifest describes."""
    if len(entries) != record_count:
        raise LineageError(f"the records list has {len(entries)} ids, the manifest says {record_count}")
    actual = ids_digest(e.id for e in entries)
    if actual != expected:
        raise LineageError(f"the records list hashes to {actual}, the manifest says {expected}")


def find_entry(entries: Iterable[RecordEntry], record_id: str) -> RecordEntry | None:
    for entry in entries:
        if entry.id == record_id:
            return entry
        if entry.id > record_id:  # sorted: it is not further down
            return None
    return None


# -------------------------------------------------------------------------------------- positions
def describe_position(kind: str, metadata: Mapping[str, Any]) -> str:
    """Where a record sits in its source, from the collector's metadata: SQL table and key, log file and
    byte offset, HTTP URL and page. Unknown layouts fall back to the metadata's own keys."""
    if kind == "sql" and "table" in metadata:
        key = metadata.get("key")
        if isinstance(key, Mapping):
            key_text = ", ".join(f"{name}={value!r}" for name, value in key.items())
        else:
            key_text = repr(key)
        return f"table {metadata['table']}, key {key_text}"
    if kind == "log" and "path" in metadata:
        text = f"file {metadata['path']}, byte offset {metadata.get('offset', '?')}"
        if metadata.get("lines"):
            text += f", {metadata['lines']} lines"
        if metadata.get("fingerprint"):
            text += f" (file fingerprint {metadata['fingerprint']})"
        return text
    if kind == "http" and "url" in metadata:
        text = f"url {metadata['url']}"
        if metadata.get("page") is not None:
            text += f", page {metadata['page']}"
        if metadata.get("index") is not None:
            text += f", item {metadata['index']}"
        return text
    return ", ".join(f"{name}={value!r}" for name, value in sorted(metadata.items())) or "(no position)"


@dataclass(frozen=True, slots=True)
class RecordOrigin:
    """A stored record's provenance (never its content)."""

    id: str
    dataset: str
    source: str
    kind: str
    metadata: Mapping[str, Any]
    collected_at: str
    ingested_at: dt.datetime | None

    @property
    def position(self) -> str:
        return describe_position(self.kind, self.metadata)


@dataclass(frozen=True, slots=True)
class RunUse:
    """A model that had the record in its snapshot, and on which side."""

    run_id: str
    dataset: str
    split: Split
    model_uri: str
    created_at: dt.datetime
    production: bool = False

    @property
    def trained_on(self) -> bool:
        return self.split == "train"
