"""``tuneline evaluator`` (the worker), ``tuneline evaluate`` (one run, by hand), ``tuneline drift`` (one
continuous-evaluation check, by hand) and ``tuneline canary``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli_common import ConfigOption, emit, err, run_help, service_group

app = service_group("evaluator", "Evaluate, gate and promote models.")
canary_app = typer.Typer(
    name="canary", no_args_is_help=True, help="Canaries: secret-bearing records no model may learn."
)


@app.command("run", help=run_help("evaluator"))
def run(config: ConfigOption = None) -> None:
    from services.evaluator.__main__ import main

    raise typer.Exit(main(config_file=config))


EVALUATE_HELP = "Evaluate one training run against production, with a progress bar."


def evaluate(
    run_id: Annotated[str, typer.Argument(help="A succeeded run (see GET /v1/trainings).")],
    promote: Annotated[bool, typer.Option(help="Move production when the gates pass.")] = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from libs.registry import ModelRegistry
    from libs.storage.runs import read_run
    from services.evaluator.__main__ import dynamodb_client
    from services.evaluator.adapters.canaries import CanaryStore
    from services.evaluator.adapters.training_data import TrainingRecords
    from services.evaluator.core.config import load_config
    from services.evaluator.settings import get_settings
    from services.evaluator.worker import evaluate_run

    settings = get_settings()
    client = dynamodb_client(settings)
    prefix = settings.shared.table_prefix
    run = read_run(client, prefix, run_id)
    if run is None or run.state != "succeeded" or run.model_uri is None:
        raise typer.BadParameter(f"no succeeded run {run_id!r} with a model", param_hint="RUN_ID")
    canaries = CanaryStore(client, prefix).all() if settings.canaries else []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        config = load_config(settings.config_file)
        training = TrainingRecords.from_client(
            client, prefix, settings.shared.index_shards, config.pii_scan.max_training_records
        )
        outcome = evaluate_run(
            run.run_id, run.dataset, run.model_uri, ModelRegistry(client, prefix),
            config, settings.work_dir, canaries, progress, promote=promote, training=training,
        )  # fmt: skip
    report = outcome.report
    for gate in report.gates:
        emit(f"{'pass' if gate.passed else 'FAIL'}  {gate.name:<32} {gate.value!s:<22} {gate.detail}")
    emit(f"decision: {report.decision.value} ({report.summary}); promoted: {outcome.promoted}")
    emit(f"report: {outcome.report_uri}")


DRIFT_HELP = "Check a dataset's production model on the records that arrived since its training (drift)."


def drift(
    dataset: Annotated[str, typer.Option(help="The dataset whose production model is checked.")],
    if_due: Annotated[
        bool, typer.Option("--if-due", help="Only when the schedule would check now (enough new records).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    from services.evaluator.__main__ import drift_checker, dynamodb_client
    from services.evaluator.core.config import load_config
    from services.evaluator.settings import get_settings

    settings = get_settings()
    checker = drift_checker(settings, load_config(config or settings.config_file), dynamodb_client(settings))
    report = checker.check(dataset, force=not if_due)
    if report is None:
        emit(f"{dataset}: no check (no production model, or not due)")
        return
    for row in report.sources:
        change = f"{row.change:+.1%}" if row.change is not None else "–"
        emit(f"{row.status:<8} {row.name:<24} n={row.examples:<6} {report.metric}={row.value:.4g} ({change})")
    emit(f"{'DRIFTED' if report.drifted else 'ok'}: {report.summary}")
    training = report.training
    emit(f"training request: {training.status} {training.run_id or ''} {training.detail}".rstrip())


@canary_app.command("plant", help="Publish random canaries into a source's raw topic and record them.")
def canary_plant(
    source: Annotated[str, typer.Option(help="The source whose raw topic receives them.")] = "canary",
    count: Annotated[int, typer.Option(min=1, max=1000)] = 8,
) -> None:
    import datetime as dt

    from libs.common.settings import get_shared_settings
    from libs.schemas import raw_topic
    from services.evaluator.__main__ import dynamodb_client
    from services.evaluator.adapters.canaries import CanaryStore, plant
    from services.evaluator.core.canary import make_canaries
    from services.evaluator.settings import get_settings

    settings = get_settings()
    shared = get_shared_settings()
    now = dt.datetime.now(dt.UTC)
    # No seed: the secrets come from the OS generator and the ids are random (they are printed).
    planted = make_canaries(None, count, prefix=f"canary-{now:%Y%m%dT%H%M%S}")
    store = CanaryStore(dynamodb_client(settings), shared.table_prefix)
    records = plant(shared, store, planted, source, now, shared.namespace)
    topic = raw_topic(source, shared.namespace)
    emit(f"planted {len(records)} canaries into {topic}, their secrets in {store.table}")
    emit("the evaluator tests every model on them")


@canary_app.command(
    "purge-legacy", help="Delete the canaries earlier versions kept in the state table (plant new ones)."
)
def canary_purge_legacy() -> None:
    from libs.common.settings import get_shared_settings
    from services.evaluator.__main__ import dynamodb_client
    from services.evaluator.adapters.canaries import purge_legacy
    from services.evaluator.settings import get_settings

    deleted = purge_legacy(dynamodb_client(get_settings()), get_shared_settings().table_prefix)
    emit(f"deleted {deleted} legacy canaries from the state table")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
    root.command("evaluate", help=EVALUATE_HELP)(evaluate)
    root.command("drift", help=DRIFT_HELP)(drift)
    root.add_typer(canary_app)
