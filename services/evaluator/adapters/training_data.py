"""A run's train records as text, for the reproduced-PII check (``core/pii.py``).

The model folder holds the eval split, not the records the model learned from; those are read back from
the records table with the trainer's snapshot reader, at the manifest's watermark, and narrowed to the
ids the run's ``records.jsonl`` lists on the train side. Each record becomes the text the trainer made
of it (``to_example``): a value the candidate writes that occurs there was in front of it in training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from libs.model_folder.lineage import parse_entries
from libs.model_folder.manifest import ModelManifest
from libs.storage.snapshot import SnapshotReader
from libs.training_data.formatting import to_example

log = logging.getLogger(__name__)


def train_ids(model_dir: Path, manifest: ModelManifest) -> set[str] | None:
    """The ids the run trained on, from its ``records.jsonl``; ``None`` when the model has none."""
    name = manifest.records_file
    if name is None or not (model_dir / name).exists():
        return None
    with open(model_dir / name, encoding="utf-8") as lines:
        return {entry.id for entry in parse_entries(lines) if entry.split == "train"}


class TrainingRecords:
    """Reads the text of a run's train records (at most ``max_records`` of them)."""

    def __init__(self, reader: SnapshotReader, max_records: int | None = None) -> None:
        self._reader = reader
        self._max = max_records

    @classmethod
    def from_client(
        cls, dynamodb: Any, table_prefix: str, index_shards: int, max_records: int | None
    ) -> TrainingRecords:
        """``index_shards`` must be the writer's (see ``SnapshotReader``)."""
        return cls(SnapshotReader(dynamodb, table_prefix, index_shards), max_records)

    def texts(self, model_dir: Path, manifest: ModelManifest) -> list[str]:
        wanted = train_ids(model_dir, manifest)
        watermark_ms = int(manifest.data.watermark.timestamp() * 1000)
        texts: list[str] = []
        for record in self._reader.read(manifest.dataset, watermark_ms):
            if wanted is not None and record.id not in wanted:
                continue
            example = to_example(record.content, record.fields)
            if example is None:
                continue
            texts.append(
                example.text if example.text is not None else f"{example.prompt}\n{example.response}"
            )
            if self._max is not None and len(texts) >= self._max:
                log.warning(
                    "train records capped for the reproduced-PII check",
                    extra={"run_id": manifest.run_id, "max_records": self._max},
                )
                break
        return texts
