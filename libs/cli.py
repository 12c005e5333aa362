"""The ``tuneline`` command: one subcommand per service plus the developer tools."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from libs.devstack.stack import DevStack

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="tuneline: internal data to a fine-tuned LLM."
)
err = Console(stderr=True, highlight=False)  # progress and messages for people


def emit(line: str) -> None:
    """A machine-readable line on stdout (env assignment, path): never wrapped or styled."""
    typer.echo(line)


SERVICES = {
    "collector": "Stream SQL, log-file and HTTP-API sources onto Kafka.",
    "sanitizer": "Normalize, deduplicate and anonymize raw records (Faust).",
    "writer": "Store sanitized records in DynamoDB.",
    "trainer": "Admin API, scheduler and fine-tuning runs.",
    "evaluator": "Evaluate, gate and promote models.",
}


def _add_service(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(no_args_is_help=True, help=help_text)

    @group.command("run", help=f"Run the {name} (same as python -m services.{name}).")
    def run(
        config: Annotated[
            Path | None, typer.Option("--config", help="The YAML file (default: from settings).")
        ] = None,
    ) -> None:
        module = importlib.import_module(f"services.{name}.__main__")
        if config is None:
            raise typer.Exit(module.main())
        if "config_file" not in inspect.signature(module.main).parameters:
            raise typer.BadParameter(f"the {name} has no YAML configuration", param_hint="--config")
        raise typer.Exit(module.main(config_file=str(config)))

    app.add_typer(group, name=name)
    return group


_groups = {name: _add_service(name, help_text) for name, help_text in SERVICES.items()}


@_groups["writer"].command(
    "init-tables", help="Create the DynamoDB tables (records, state, runs) if missing."
)
def writer_init_tables() -> None:
    from services.writer.__main__ import dynamodb_client
    from services.writer.adapters.tables import init_tables
    from services.writer.settings import get_settings

    settings = get_settings()
    created = init_tables(dynamodb_client(settings), settings.shared.table_prefix)
    err.print(f"created: {', '.join(created)}" if created else "all tables already exist")


# ---------------------------------------------------------------------------------------- evaluator
@app.command("evaluate", help="Evaluate one training run against production, with a progress bar.")
def evaluate(
    run_id: Annotated[str, typer.Argument(help="A succeeded run (see GET /v1/trainings).")],
    promote: Annotated[bool, typer.Option(help="Move production when the gates pass.")] = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from libs.registry import ModelRegistry
    from services.evaluator.__main__ import dynamodb_client
    from services.evaluator.adapters.canaries import CanaryStore
    from services.evaluator.adapters.training_data import TrainingRecords
    from services.evaluator.core.config import load_config
    from services.evaluator.settings import get_settings
    from services.evaluator.worker import evaluate_run
    from services.trainer.adapters.dynamodb import DynamoRunStore

    settings = get_settings()
    client = dynamodb_client(settings)
    prefix = settings.shared.table_prefix
    run = DynamoRunStore(client, prefix).get(run_id)
    if run is None or run.model_uri is None:
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
            client, prefix, settings.index_shards, config.pii_scan.max_training_records
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


canary_app = typer.Typer(no_args_is_help=True, help="Canaries: secret-bearing records no model may learn.")
app.add_typer(canary_app, name="canary")


@canary_app.command("plant", help="Publish random canaries into a source's raw topic and record them.")
def canary_plant(
    source: Annotated[str, typer.Option(help="The source whose raw topic receives them.")] = "canary",
    count: Annotated[int, typer.Option(min=1, max=1000)] = 8,
) -> None:
    import datetime as dt
    import secrets

    from libs.common.settings import get_shared_settings
    from libs.schemas import raw_topic
    from services.evaluator.__main__ import dynamodb_client
    from services.evaluator.adapters.canaries import CanaryStore, plant
    from services.evaluator.core.canary import make_canaries
    from services.evaluator.settings import get_settings

    settings = get_settings()
    shared = get_shared_settings()
    now = dt.datetime.now(dt.UTC)
    planted = make_canaries(secrets.randbits(63), count, prefix=f"canary-{now:%Y%m%dT%H%M%S}")
    store = CanaryStore(dynamodb_client(settings), shared.table_prefix)
    records = plant(shared, store, planted, source, now, shared.namespace)
    topic = raw_topic(source, shared.namespace)
    emit(f"planted {len(records)} canaries into {topic}; the evaluator tests every model on them")


# ------------------------------------------------------------------------------------------ lineage
@app.command("lineage", help="What a model was trained on (RUN_ID), or which models a record went into.")
def lineage(
    run_id: Annotated[str | None, typer.Argument(help="A run with a model: show its manifest.")] = None,
    records: Annotated[bool, typer.Option("--records", help="List the run's record ids and splits.")] = False,
    record: Annotated[
        list[str] | None, typer.Option("--record", help="A record id (repeatable): source, position, models.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="With --record: only this dataset's runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    from services.trainer.core.errors import RunNotFound
    from services.trainer.core.lineage import LineageError
    from services.trainer.lineage import reader_from_settings, show_model, show_records

    if (run_id is None) == (not record):
        raise typer.BadParameter("give either RUN_ID or --record ID")
    try:
        if run_id is not None:
            show_model(reader_from_settings(), run_id, records, as_json, emit)
        else:
            show_records(reader_from_settings(), record or [], dataset, as_json, emit)
    except (RunNotFound, LineageError) as exc:
        raise _fail(exc) from None


# ---------------------------------------------------------------------------------------- sanitize
@app.command("sanitize", help="Sanitize RawRecord JSON lines offline (same steps as the sanitizer service).")
def sanitize(
    source: Annotated[Path, typer.Argument(help="RawRecord JSON lines.", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="SanitizedRecord JSON lines (overwritten).")],
    dlq: Annotated[
        Path | None,
        typer.Option("--dlq", help="Write malformed lines here and go on (else stop at the first)."),
    ] = None,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Policy YAML (default: TUNELINE_SANITIZER_POLICIES_FILE).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per NER batch.")] = 256,
) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from services.sanitizer.build import build_sanitizer, keys_from_settings
    from services.sanitizer.core.errors import SanitizerError
    from services.sanitizer.core.policy import load_policy
    from services.sanitizer.offline import sanitize_file
    from services.sanitizer.settings import get_settings

    settings = get_settings()
    try:
        policy = load_policy(policy_file or settings.policies_file)
        with err.status("loading the NER model..."):
            sanitizer = build_sanitizer(policy, keys_from_settings(settings))
        columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("sanitizing", total=source.stat().st_size)
            summary = sanitize_file(
                source,
                output,
                sanitizer,
                settings.max_record_bytes,
                dlq=dlq,
                batch_size=batch_size,
                on_progress=lambda n: progress.advance(task, n),
            )
    except SanitizerError as exc:
        raise _fail(exc) from None
    for line in summary.lines():
        err.print(line)


# ------------------------------------------------------------------------------------------ schemas
schemas_app = typer.Typer(no_args_is_help=True, help="Shared record and event schemas.")
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("export", help="Write one JSON Schema file per topic model into DIR.")
def schemas_export(directory: Annotated[Path, typer.Argument(help="Output folder (created).")]) -> None:
    from libs.schemas import export_json_schemas

    for path in export_json_schemas(directory):
        emit(str(path))


# ------------------------------------------------------------------------------------------- models
models_app = typer.Typer(no_args_is_help=True, help="Base models: the embedded default and its cache.")
app.add_typer(models_app, name="models")


@models_app.command("prepare", help="Convert an embedded model (GGUF in its package) into the cache, once.")
def models_prepare(
    name: Annotated[
        str | None, typer.Argument(help="The embedded model (default: tuneline/smollm2-135m-instruct).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Convert again even when a checked copy is cached.")] = False,
) -> None:
    from libs.models import EMBEDDED_MODEL, ModelError, prepare_embedded_model

    name = name or EMBEDDED_MODEL
    try:
        with err.status(f"preparing {name}...") as status:
            prepared = prepare_embedded_model(
                name, force=force, on_step=lambda msg: status.update(f"{name}: {msg}...")
            )
    except ModelError as exc:
        raise _fail(exc) from None
    done = f"converted in {prepared.seconds:.1f} s" if prepared.converted else "already cached"
    err.print(f"{name}: {done} (GGUF sha256 {prepared.source_sha256[:12]})")
    emit(str(prepared.path))


# ---------------------------------------------------------------------------------------------- dev
dev_app = typer.Typer(no_args_is_help=True, help="Local Kafka (KRaft) and DynamoDB-compatible server.")
app.add_typer(dev_app, name="dev")


def _stack() -> DevStack:
    from libs.devstack.settings import DevStackSettings
    from libs.devstack.stack import DevStack

    return DevStack(DevStackSettings())


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


@dev_app.command(
    "up",
    help="Start Kafka and dynalite in the background and print, as shell assignments, everything the "
    'services need to use them: set -a; eval "$(tuneline dev up)"; set +a',
)
def dev_up() -> None:
    import shlex

    from libs.devstack.errors import DevStackError

    stack = _stack()
    try:
        with err.status("starting Kafka and dynalite (first run downloads them)..."):
            statuses, already = stack.up()
    except DevStackError as exc:
        raise _fail(exc) from None
    if len(already) == 2:
        err.print("[yellow]already running[/yellow]: nothing to do (tuneline dev down stops it)")
    elif already:
        err.print(f"[yellow]already running[/yellow]: {', '.join(already)}; started the rest")
    else:
        err.print(f"[green]started[/green]; state in {stack.settings.stack_dir}")
    for status in statuses:
        emit(status.env_line)
    for name, value in stack.service_env().items():
        emit(f"{name}={shlex.quote(value)}")


@dev_app.command("down", help="Stop the servers started by `dev up` (their data is kept).")
def dev_down() -> None:
    stopped = _stack().down()
    err.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@dev_app.command("status", help="Report whether each server runs and answers.")
def dev_status() -> None:
    statuses = _stack().status()
    for s in statuses:
        state = "answering" if s.answering else ("running, not answering" if s.pid else "stopped")
        pid = f" pid {s.pid}" if s.pid else ""
        emit(f"{s.name:<9} {state}{pid}  {s.env_line}")
    if not all(s.answering for s in statuses):
        raise typer.Exit(3)


@dev_app.command("install", help="Fetch Kafka's jars (Maven) and dynalite (npm) into the cache.")
def dev_install() -> None:
    from libs.devstack.errors import DevStackError

    stack = _stack()
    try:
        with err.status("resolving Kafka jars and dynalite..."):
            stack.install()
    except DevStackError as exc:
        raise _fail(exc) from None
    emit(f"kafka jars: {stack.kafka.libs}")
    emit(f"dynalite:   {stack.dynalite.modules}")


@dev_app.command("images", help="Build the local Docker images (debootstrap base, Kafka, dynalite).")
def dev_images(force: Annotated[bool, typer.Option(help="Rebuild even when up to date.")] = False) -> None:
    from libs.devstack.errors import DevStackError
    from libs.devstack.images import ImageBuilder, docker_usable
    from libs.devstack.settings import DevStackSettings

    if not docker_usable():
        raise _fail(RuntimeError("no usable Docker engine (docker info failed)"))
    with err.status("building images...") as status:
        builder = ImageBuilder(DevStackSettings().cache_dir, on_step=lambda msg: status.update(msg))
        try:
            timings = builder.build_all(force=force)
        except DevStackError as exc:
            raise _fail(exc) from None
    for name, seconds in timings.items():
        emit(f"{name:<9} {seconds:>7.1f}s")


def main() -> None:
    from pydantic import ValidationError

    from libs.common.aws import AwsCredentialsMissing
    from libs.devstack.errors import DevStackError
    from libs.schemas import SchemaError

    try:
        sys.exit(app(standalone_mode=True))
    except (DevStackError, SchemaError, OSError, AwsCredentialsMissing) as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # one line, whatever the terminal width
        sys.exit(1)
    except ValidationError as exc:  # a setting from the environment is malformed
        err.print(f"[red]invalid settings:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
