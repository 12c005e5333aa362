"""The reproduced-PII check reads a run's train records back from the real records table: exactly the
ids its records.jsonl lists on the train side, up to its snapshot watermark, as the trainer rendered them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from libs.common.backoff import Backoff
from libs.model_folder.files import RECORDS_FILE
from libs.model_folder.lineage import dump_entries, record_entries
from libs.model_folder.manifest import DataManifest, ModelManifest, ids_digest
from libs.schemas import RecordKind, SanitizedRecord, Table, table_name
from libs.storage.items import to_item
from libs.storage.tables import init_tables
from services.evaluator.adapters.training_data import TrainingRecords
from services.evaluator.core.pii import TrainingText
from services.writer.adapters.dynamodb import DynamoBatchWriter

pytestmark = [pytest.mark.integration]

WATERMARK = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
WATERMARK_MS = int(WATERMARK.timestamp() * 1000)
SLIPPED = "olga.brandt@customer-mail.example"  # a value the sanitizer missed in one train record


def ticket(i: int, dataset: str = "support", answer: str = "Restart the router.") -> SanitizedRecord:
    return SanitizedRecord(
        id=f"helpdesk:{i:04d}",
        source="helpdesk",
        kind=RecordKind.SQL,
        content=f"ticket {i}",
        fields={"question": f"Ticket {i}: my VPN drops, <PERSON_1a2b3c4d> here", "answer": answer},
        metadata={"table": "tickets"},
        collected_at=WATERMARK,
        dataset=dataset,
        content_hash=f"{i:032x}",
        pii={"PERSON": 1},
        sanitized_at=WATERMARK,
    )


def model_folder(folder: Path, ids: list[str], train: list[str], evaluation: list[str]) -> ModelManifest:
    folder.mkdir(parents=True)
    with open(folder / RECORDS_FILE, "w", encoding="utf-8") as out:
        out.writelines(dump_entries(record_entries(ids, train, evaluation)))
    data = DataManifest(
        dataset="support", watermark=WATERMARK, record_count=len(ids), train_records=len(train),
        eval_records=len(evaluation), skipped_records=len(ids) - len(train) - len(evaluation),
        train_blocks=1, eval_blocks=1, tokens=1, ids_digest=ids_digest(ids), eval_fraction=0.25,
    )  # fmt: skip
    return ModelManifest(
        run_id="support-1", dataset="support", base_model="tiny", base_model_kind="tiny-built",
        created_at=WATERMARK, data=data, training={}, code_version="test", finetune="full",
        records_file=RECORDS_FILE,
    )  # fmt: skip


def test_the_train_records_of_a_run_are_read_back_for_the_leak_check(
    dynamodb_client: Any, table_prefix: str, tmp_path: Path
) -> None:
    init_tables(dynamodb_client, table_prefix)
    records = [
        ticket(i, answer=f"We wrote to {SLIPPED}." if i == 7 else "Restart the router.") for i in range(40)
    ]
    items = [to_item(r, WATERMARK_MS - 1000 + i, shards=4) for i, r in enumerate(records)]
    items.append(to_item(ticket(90), WATERMARK_MS + 5000, shards=4))  # after the snapshot
    items.append(to_item(ticket(91, dataset="billing"), WATERMARK_MS - 5, shards=4))  # another dataset
    writer = DynamoBatchWriter(
        dynamodb_client, table_name(Table.RECORDS, table_prefix), backoff=Backoff(base_s=0.01, cap_s=0.2)
    )
    try:
        writer.write(items)
    finally:
        writer.close()

    ids = [r.id for r in records]
    evaluation = ids[::4]  # helpdesk:0000, 0004, 0008 ...: 0007 is a train record
    train = [i for i in ids if i not in evaluation][:-2]  # the last two: skipped (no text)
    manifest = model_folder(tmp_path / "model", ids, train, evaluation)

    reader = TrainingRecords.from_client(dynamodb_client, table_prefix, index_shards=4, max_records=None)
    texts = reader.texts(tmp_path / "model", manifest)
    assert len(texts) == len(train) == 28
    assert all(text.startswith("Ticket ") and "\n" in text for text in texts)  # prompt\nresponse
    assert not any(text.startswith(("Ticket 90:", "Ticket 91:", "Ticket 0:", "Ticket 4:")) for text in texts)
    assert TrainingText(texts).contains(SLIPPED.upper())  # the leak check finds the slipped value

    capped = TrainingRecords.from_client(dynamodb_client, table_prefix, index_shards=4, max_records=5)
    assert len(capped.texts(tmp_path / "model", manifest)) == 5

    # A model written before lineage has no records list: every snapshot record is searched.
    older = manifest.model_copy(update={"records_file": None})
    assert len(reader.texts(tmp_path / "model", older)) == 40
