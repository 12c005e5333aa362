"""Lineage reads: a run's manifest and records list from the model store (local folder or ``s3://``), a
record's provenance from the records table, and every model whose snapshot held a record.

"Which models learned from record X" scans the records list of every run with a model. Runs are few and a
list is read sequentially (about 60 bytes per record), so this costs one pass over the lists; it needs no
extra write per record and run while training, and it stays right when records are deleted from the table,
which is when the question matters most (erasing a subject).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from libs.model_folder.files import MANIFEST_FILE
from libs.model_folder.lineage import (
    LineageError,
    RecordEntry,
    RecordOrigin,
    RunUse,
    check_digest,
    parse_entries,
)
from libs.model_folder.manifest import ModelManifest
from libs.registry import ModelRegistry
from libs.schemas import Table, table_name
from libs.storage.snapshot import plain
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.core.errors import RunNotFound
from services.trainer.core.runs import RunRecord

# What lineage shows of a record: where it came from, never its content.
_ORIGIN_ATTRIBUTES = ("id", "dataset", "#src", "kind", "metadata", "collected_at", "ingested_at")


def model_file_lines(model_uri: str, name: str, s3: Any = None) -> Iterator[str]:
    """The lines of one file of a published model, streamed: a local folder or an ``s3://`` prefix."""
    if not model_uri.startswith("s3://"):
        with open(Path(model_uri) / name, encoding="utf-8") as handle:
            yield from handle
        return
    bucket, _, prefix = model_uri.removeprefix("s3://").partition("/")
    if s3 is None:
        from libs.common.aws import s3_client

        s3 = s3_client()
    key = f"{prefix.rstrip('/')}/{name}" if prefix else name
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for line in body.iter_lines():
        yield line.decode("utf-8") + "\n"


@dataclass(frozen=True)
class ModelLineage:
    run: RunRecord
    model_uri: str
    manifest: ModelManifest


class LineageReader:
    def __init__(self, dynamodb: Any, prefix: str, s3: Any = None) -> None:
        self._dynamodb = dynamodb
        self._records = table_name(Table.RECORDS, prefix)
        self._runs = DynamoRunStore(dynamodb, prefix)
        self._registry = ModelRegistry(dynamodb, prefix)
        self._s3 = s3
        self._deserialize = TypeDeserializer().deserialize

    # -- model -> records -------------------------------------------------------------------------
    def model(self, run_id: str) -> ModelLineage:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id!r}")
        return self._model_of(run)

    def _model_of(self, run: RunRecord) -> ModelLineage:
        if run.model_uri is None:
            raise LineageError(f"run {run.run_id!r} is {run.state.value} and has no model")
        text = "".join(model_file_lines(run.model_uri, MANIFEST_FILE, self._s3))
        return ModelLineage(run, run.model_uri, ModelManifest.model_validate_json(text))

    def entries(self, model: ModelLineage, verify: bool = True) -> list[RecordEntry]:
        """The model's snapshot, id by id with its split; checked against the manifest's digest."""
        name = model.manifest.records_file
        if name is None:
            raise LineageError(
                f"run {model.run.run_id!r} was trained before records lists were kept: only its "
                f"ids digest ({model.manifest.data.ids_digest}) is known"
            )
        entries = list(parse_entries(model_file_lines(model.model_uri, name, self._s3)))
        if verify:
            check_digest(entries, model.manifest.data.ids_digest, model.manifest.data.record_count)
        return entries

    # -- record -> origin and models ----------------------------------------------------------------
    def origin(self, record_id: str) -> RecordOrigin | None:
        """The record's provenance from the records table; None when it is not (or no longer) stored."""
        item = self._dynamodb.get_item(
            TableName=self._records,
            Key={"id": {"S": record_id}},
            ProjectionExpression=", ".join(_ORIGIN_ATTRIBUTES),
            ExpressionAttributeNames={"#src": "source"},
        ).get("Item")
        if item is None:
            return None
        values = {name: plain(self._deserialize(value)) for name, value in item.items()}
        ingested = values.get("ingested_at")
        return RecordOrigin(
            id=str(values["id"]),
            dataset=str(values.get("dataset", "")),
            source=str(values.get("source", "")),
            kind=str(values.get("kind", "")),
            metadata=values.get("metadata") or {},
            collected_at=str(values.get("collected_at", "")),
            ingested_at=(
                dt.datetime.fromtimestamp(int(ingested) / 1000, dt.UTC)
                if isinstance(ingested, int | float | Decimal)
                else None
            ),
        )

    def runs_using(
        self, record_ids: Collection[str], dataset: str | None = None
    ) -> tuple[dict[str, list[RunUse]], list[str]]:
        """For each record id, the models whose snapshot held it (newest first), and the run ids whose
        models predate records lists (they cannot be searched). ``dataset`` narrows the runs read."""
        wanted = set(record_ids)
        found: dict[str, list[RunUse]] = {record_id: [] for record_id in wanted}
        unsearchable: list[str] = []
        production = set(self._registry.production_all().values())
        for run in self._runs.list(dataset, limit=1_000_000):
            if run.model_uri is None:
                continue
            try:
                model = self._model_of(run)
            except (OSError, ClientError) as exc:  # the model was deleted from the store
                unsearchable.append(f"{run.run_id} ({type(exc).__name__}: {exc})")
                continue
            if model.manifest.records_file is None:
                unsearchable.append(run.run_id)
                continue
            lines = model_file_lines(model.model_uri, model.manifest.records_file, self._s3)
            for entry in parse_entries(lines):
                if entry.id in wanted:
                    found[entry.id].append(
                        RunUse(
                            run_id=run.run_id,
                            dataset=run.dataset,
                            split=entry.split,
                            model_uri=model.model_uri,
                            created_at=run.created_at,
                            production=run.run_id in production,
                        )
                    )
        return found, unsearchable
