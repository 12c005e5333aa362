"""``tuneline lineage``: what a model was trained on, and which models a record went into.

Wiring and output only; the reads are ``services.trainer.adapters.lineage``, the rules
``libs.model_folder.lineage``. Output goes to stdout (the answer the user asked for): rich text by
default, one JSON document with ``--json``, and with ``--records`` one ``<id>\\t<split>`` line per record
so that the list pipes into other tools.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from libs.model_folder.lineage import LineageError, RecordEntry, RecordOrigin, RunUse
from services.trainer.adapters.lineage import LineageReader, ModelLineage


def reader_from_settings() -> LineageReader:
    from libs.common.aws import dynamodb_client
    from services.trainer.settings import get_settings

    shared = get_settings().shared
    return LineageReader(dynamodb_client(shared), shared.table_prefix)


# ------------------------------------------------------------------------------------------- model
def model_summary(model: ModelLineage, entries: list[RecordEntry] | None) -> dict[str, Any]:
    manifest, data = model.manifest, model.manifest.data
    summary: dict[str, Any] = {
        "run_id": model.run.run_id,
        "state": model.run.state.value,
        "dataset": manifest.dataset,
        "model_uri": model.model_uri,
        "base_model": manifest.base_model,
        "base_model_kind": manifest.base_model_kind,
        "finetune": manifest.finetune,
        "created_at": manifest.created_at.isoformat(),
        "watermark": data.watermark.isoformat(),
        "record_count": data.record_count,
        "train_records": data.train_records,
        "eval_records": data.eval_records,
        "skipped_records": data.skipped_records,
        "ids_digest": data.ids_digest,
        "records_file": manifest.records_file,
        "records_verified": entries is not None,
        "code_version": manifest.code_version,
        "metrics": manifest.metrics,
    }
    return summary


def show_model(
    reader: LineageReader, run_id: str, records: bool, as_json: bool, out: Callable[[str], None]
) -> None:
    """Raises ``RunNotFound`` or ``LineageError``; with ``records`` a model without a list is an error."""
    model = reader.model(run_id)
    entries: list[RecordEntry] | None
    try:
        entries = reader.entries(model)
    except LineageError:
        if records or model.manifest.records_file is not None:
            raise  # asked for the list, or the list does not match the manifest
        entries = None
    summary = model_summary(model, entries)
    if as_json:
        if records and entries is not None:
            summary["records"] = [{"id": e.id, "split": e.split} for e in entries]
        out(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    if records and entries is not None:
        for entry in entries:
            out(f"{entry.id}\t{entry.split}")
        return
    table = Table(title=f"model {run_id}", show_header=False, title_justify="left")
    for name, value in summary.items():
        if name == "metrics":
            value = ", ".join(f"{k}={v:.4g}" for k, v in sorted(value.items())) or "-"
        elif name == "records_verified":
            value = "yes: the list hashes to ids_digest" if value else "no list (model predates lineage)"
        table.add_row(name.replace("_", " "), str(value))
    _print(table, out)


# ------------------------------------------------------------------------------------------ record
def record_summary(
    record_id: str, origin: RecordOrigin | None, uses: list[RunUse], unsearchable: list[str]
) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "stored": origin is not None,
        "dataset": origin.dataset if origin else None,
        "source": origin.source if origin else None,
        "kind": origin.kind if origin else None,
        "position": origin.position if origin else None,
        "metadata": dict(origin.metadata) if origin else None,
        "collected_at": origin.collected_at if origin else None,
        "ingested_at": origin.ingested_at.isoformat() if origin and origin.ingested_at else None,
        "models": [
            {
                "run_id": use.run_id,
                "dataset": use.dataset,
                "split": use.split,
                "trained_on": use.trained_on,
                "production": use.production,
                "created_at": use.created_at.isoformat(),
                "model_uri": use.model_uri,
            }
            for use in sorted(uses, key=lambda u: (u.created_at, u.run_id), reverse=True)
        ],
        "unsearchable_runs": unsearchable,
    }


def show_records(
    reader: LineageReader,
    record_ids: Sequence[str],
    dataset: str | None,
    as_json: bool,
    out: Callable[[str], None],
) -> None:
    origins = {record_id: reader.origin(record_id) for record_id in record_ids}
    if dataset is None:  # every record in one dataset: read only that dataset's runs
        datasets = {o.dataset for o in origins.values() if o is not None}
        if len(datasets) == 1 and all(origins.values()):
            dataset = datasets.pop()
    uses, unsearchable = reader.runs_using(record_ids, dataset)
    summaries = [record_summary(i, origins[i], uses[i], unsearchable) for i in record_ids]
    if as_json:
        out(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2, ensure_ascii=False))
        return
    for summary in summaries:
        _print_record(summary, out)


def _print_record(summary: dict[str, Any], out: Callable[[str], None]) -> None:
    info = Table(title=f"record {summary['record_id']}", show_header=False, title_justify="left")
    if summary["stored"]:
        for name in ("dataset", "source", "kind", "position", "collected_at", "ingested_at"):
            info.add_row(name.replace("_", " "), str(summary[name]))
    else:
        info.add_row("stored", "no: not in the records table (deleted, or never stored)")
    _print(info, out)
    models = Table("run", "dataset", "split", "production", "created", "model")
    for use in summary["models"]:
        models.add_row(
            use["run_id"],
            use["dataset"],
            use["split"] + ("" if use["trained_on"] else " (not trained on)"),
            "yes" if use["production"] else "",
            use["created_at"][:19],
            use["model_uri"],
        )
    if summary["models"]:
        _print(models, out)
    else:
        out("no model's snapshot holds this record")
    if summary["unsearchable_runs"]:
        out(f"not searchable (no records list): {', '.join(summary['unsearchable_runs'])}")


def _print(renderable: Any, out: Callable[[str], None]) -> None:
    console = Console(width=160, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(renderable)
    out(captured.get().rstrip("\n"))
