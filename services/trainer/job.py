"""One training run, start to finish, in a process of its own: ``python -m services.trainer.job RUN_ID``.

The trainer service starts it for a run it has moved to ``running`` and kills its process group to cancel
it (Ray then stops the workers). Reads top to bottom: snapshot, split, base model, pack, train, publish.
The service owns the run's state and events; this process writes progress and ``result.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# Before Ray or torch are imported: a local Ray cluster on loopback, no usage stats, CPU DeepSpeed.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # progress goes to the run record, not the log

from libs.common import aws  # noqa: E402
from libs.common.logging import configure_logging  # noqa: E402
from libs.model_folder.files import MANIFEST_FILE, RECORDS_FILE  # noqa: E402
from libs.model_folder.lineage import dump_entries, record_entries  # noqa: E402
from libs.model_folder.manifest import DataManifest, ModelManifest, ids_digest  # noqa: E402
from libs.model_folder.store import model_store  # noqa: E402
from libs.models import is_embedded, resolve_base_model  # noqa: E402
from libs.storage.snapshot import SnapshotReader, SnapshotRecord  # noqa: E402
from libs.training_data.formatting import Example, to_example  # noqa: E402
from libs.training_data.split import is_eval  # noqa: E402
from services.trainer.adapters.dynamodb import DynamoRunStore  # noqa: E402
from services.trainer.core.config import TINY_MODEL, TrainingConfig  # noqa: E402
from services.trainer.core.errors import EmptySnapshot  # noqa: E402
from services.trainer.core.job import JobSpec, ProgressTarget  # noqa: E402
from services.trainer.core.runs import Progress, RunRecord  # noqa: E402
from services.trainer.orphan_guard import stop_when_orphaned  # noqa: E402
from services.trainer.settings import TrainerSettings, get_settings  # noqa: E402

log = logging.getLogger("services.trainer.job")

RESULT_FILE = "result.json"
TINY_BASE_DIR = "base"  # inside the published model folder


@dataclass(frozen=True)
class JobResult:
    model_uri: str
    base_model: str
    data_watermark: str
    record_count: int
    metrics: dict[str, float]


def run_training(
    run: RunRecord, settings: TrainerSettings, store: DynamoRunStore, dynamodb: Any
) -> JobResult:
    shared = settings.shared
    cfg = TrainingConfig.model_validate(run.config)
    run_dir = (settings.work_dir / run.run_id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.scaling.use_gpu:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")

    # 1. Snapshot: every record of the dataset ingested up to now whose features match `select` (the
    # newest `max_records` if capped).
    phase(store, run.run_id, "snapshot")
    # The index is eventually consistent: a record written just before the watermark may not show yet,
    # so the read waits for it to settle. (A watermark in the past instead left out records that
    # counted toward the trigger: a burst stored in the last seconds made the run smaller than its
    # threshold.)
    watermark = dt.datetime.now(dt.UTC)
    time.sleep(settings.snapshot_settle_s)
    reader = SnapshotReader(dynamodb, shared.table_prefix, shared.index_shards, settings.snapshot_parallelism)
    records = list(reader.read(run.dataset, int(watermark.timestamp() * 1000), cfg.select))
    if cfg.max_records is not None and len(records) > cfg.max_records:
        records = sorted(records, key=lambda r: (r.ingested_at_ms, r.id))[-cfg.max_records :]
    records.sort(key=lambda r: r.id)  # the same snapshot gives the same order, whatever the scan order
    log.info(
        "snapshot read",
        extra={
            "run_id": run.run_id,
            "records": len(records),
            "select": cfg.select.model_dump(mode="json", exclude_defaults=True),
        },
    )

    # 2. Examples, split by a hash of the record id (a record never changes side between runs).
    train, evaluation, skipped = split_examples(records, cfg.eval_fraction)
    if not train or not evaluation:
        raise EmptySnapshot(
            f"dataset {run.dataset!r} has {len(train)} train and {len(evaluation)} eval records up to "
            f"{watermark.isoformat()}"
            + (" matching select" if cfg.select.active else "")
            + ": need at least one on each side"
        )

    # 3. The base model: built here when it is the tiny test model, the cached folder of the embedded
    # default (converted from its package on first use), otherwise a hub id or a folder.
    phase(store, run.run_id, "base model")
    base_path, base_kind, tokenizer = prepare_base_model(cfg, train, run_dir)

    # 4. Render (chat template for prompt/response pairs), tokenize in batches, pack into blocks.
    from libs.training_data.render import render_all
    from services.trainer.training.data import pack_split, save_blocks, tokenize

    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    pad = eos if pad is None else pad
    train_blocks = pack_split(
        tokenize(render_all(train.values(), tokenizer), tokenizer), cfg.seq_len, eos, pad
    )
    eval_blocks = pack_split(
        tokenize(render_all(evaluation.values(), tokenizer), tokenizer), cfg.seq_len, eos, pad
    )
    if not train_blocks.input_ids:
        raise EmptySnapshot(f"the train side has fewer than {cfg.seq_len} tokens: too little to train on")
    data_path = run_dir / "blocks.pt"
    save_blocks(data_path, train_blocks, eval_blocks)
    data_manifest = DataManifest(
        dataset=run.dataset,
        watermark=watermark,
        record_count=len(records),
        train_records=len(train),
        eval_records=len(evaluation),
        skipped_records=skipped,
        train_blocks=len(train_blocks.input_ids),
        eval_blocks=len(eval_blocks.input_ids),
        tokens=train_blocks.tokens + eval_blocks.tokens,
        ids_digest=ids_digest(r.id for r in records),
        eval_fraction=cfg.eval_fraction,
    )
    (run_dir / "data_manifest.json").write_text(data_manifest.model_dump_json(indent=2))

    # 5. Train on Ray: DeepSpeed ZeRO from the config, resumed from the latest checkpoint after a failure.
    phase(store, run.run_id, "training")
    from services.trainer.training.launch import fit

    spec = JobSpec(
        run_id=run.run_id,
        dataset=run.dataset,
        base_model_path=base_path,
        data_path=str(data_path),
        output_dir=str(run_dir / "workers"),
        training=cfg,
        progress=ProgressTarget(
            dynamodb_endpoint=shared.dynamodb_endpoint,
            aws_region=shared.aws_region,
            table_prefix=shared.table_prefix,
        ),
    )
    result = fit(
        spec,
        storage_path=settings.checkpoint_store or str(run_dir / "ray"),
        ray_address=settings.ray_address,
        model_out=run_dir / "model",
    )

    # 6. Publish: weights, tokenizer and the manifest that ties them to the data and the config.
    phase(store, run.run_id, "saving")
    manifest = ModelManifest(
        run_id=run.run_id,
        dataset=run.dataset,
        base_model=cfg.base_model,
        base_model_kind=base_kind,
        created_at=dt.datetime.now(dt.UTC),
        data=data_manifest,
        training=cfg.model_dump(mode="json"),
        metrics=result.metrics,
        code_version=code_version(),
        finetune=cfg.finetune,
        base_model_dir=TINY_BASE_DIR if base_kind == "tiny-built" else None,
        records_file=RECORDS_FILE,
    )
    # The eval split and a locally built base travel with the model: the evaluator compares on exactly
    # these records, and against the base when the dataset has no production model yet.
    write_eval_split(result.model_dir / manifest.eval_file, records, evaluation, run.dataset)
    # Every snapshot id with its split: lineage, and the list to search when a subject's records must go.
    with open(result.model_dir / RECORDS_FILE, "w", encoding="utf-8") as out:
        out.writelines(dump_entries(record_entries((r.id for r in records), train, evaluation)))
    if base_kind == "tiny-built":
        shutil.copytree(base_path, result.model_dir / TINY_BASE_DIR, dirs_exist_ok=True)
    (result.model_dir / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    uri = model_store(settings.model_store).publish(run.run_id, result.model_dir)
    log.info("model published", extra={"run_id": run.run_id, "model_uri": uri, **result.metrics})
    return JobResult(uri, cfg.base_model, watermark.isoformat(), len(records), result.metrics)


def split_examples(
    records: list[SnapshotRecord], eval_fraction: float
) -> tuple[dict[str, Example], dict[str, Example], int]:
    train: dict[str, Example] = {}
    evaluation: dict[str, Example] = {}
    skipped = 0
    for record in records:
        example = to_example(record.content, record.fields)
        if example is None:
            skipped += 1
        elif is_eval(record.id, eval_fraction):
            evaluation[record.id] = example
        else:
            train[record.id] = example
    return train, evaluation, skipped


def write_eval_split(
    path: Path, records: list[SnapshotRecord], evaluation: dict[str, Example], dataset: str
) -> None:
    with open(path, "w") as out:
        for record in records:
            example = evaluation.get(record.id)
            if example is None:
                continue
            row = {"id": record.id, "source": record.source, "dataset": dataset}
            if example.text is not None:
                row["text"] = example.text
            else:
                row |= {"prompt": example.prompt or "", "response": example.response or ""}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def prepare_base_model(cfg: TrainingConfig, train: dict[str, Example], run_dir: Path) -> tuple[str, Any, Any]:
    """(path or hub id the workers load, its kind for the manifest, its tokenizer)."""
    from transformers import AutoTokenizer

    if cfg.base_model == TINY_MODEL:
        from services.trainer.training.tiny import build_tiny_base

        base = run_dir / "base"
        texts = [e.text if e.text is not None else f"{e.prompt}\n{e.response}" for e in train.values()]
        params = build_tiny_base(texts, cfg.tiny, cfg.seq_len, cfg.seed, base)
        log.info("built the embedded tiny base model", extra={"base_model": TINY_MODEL, "parameters": params})
        return str(base), "tiny-built", AutoTokenizer.from_pretrained(base)
    if is_embedded(cfg.base_model):  # converted once into the cache (libs/models.py), then a folder
        path = resolve_base_model(cfg.base_model)
        log.info("embedded base model", extra={"base_model": cfg.base_model, "path": path})
        return path, "embedded", AutoTokenizer.from_pretrained(path)
    kind = "local" if Path(cfg.base_model).exists() else "hub"
    return cfg.base_model, kind, AutoTokenizer.from_pretrained(cfg.base_model)


def phase(store: DynamoRunStore, run_id: str, name: str) -> None:
    """Move the run to phase ``name``, keeping the step counts: "saving" still says how many steps ran."""
    run = store.get(run_id)
    current = run.progress if run is not None else Progress()
    store.update(run_id, progress=current.model_copy(update={"phase": name}))


def code_version() -> str:
    return os.environ.get("TUNELINE_CODE_VERSION") or f"tuneline {metadata.version('tuneline')}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.trainer.job RUN_ID", file=sys.stderr)  # noqa: T201
        return 2
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    stop_when_orphaned()
    dynamodb = aws.dynamodb_client(shared)
    store = DynamoRunStore(dynamodb, shared.table_prefix)
    run = store.get(args[0])
    if run is None:
        log.error("no such run", extra={"run_id": args[0]})
        return 2
    started = time.monotonic()
    result_path = settings.work_dir / run.run_id / RESULT_FILE
    try:
        result = run_training(run, settings, store, dynamodb)
    except Exception as exc:  # the service reads the reason from result.json and fails the run with it
        log.exception("run failed", extra={"run_id": run.run_id})
        result_path.parent.mkdir(parents=True, exist_ok=True)
        result_path.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:2000]}))
        return 1
    result_path.write_text(json.dumps(asdict(result)))
    log.info("run finished", extra={"run_id": run.run_id, "seconds": round(time.monotonic() - started, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
