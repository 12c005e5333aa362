"""The sub-commands that belong to no service: ``tuneline schemas``, ``tuneline models`` and
``tuneline dev`` (the local Kafka and DynamoDB-compatible server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from libs.cli_common import emit, err, fail

if TYPE_CHECKING:
    from libs.devstack.stack import DevStack


# ------------------------------------------------------------------------------------------ schemas
schemas_app = typer.Typer(no_args_is_help=True, help="Shared record and event schemas.")


@schemas_app.command("export", help="Write one JSON Schema file per topic model into DIR.")
def schemas_export(directory: Annotated[Path, typer.Argument(help="Output folder (created).")]) -> None:
    from libs.schemas import export_json_schemas

    for path in export_json_schemas(directory):
        emit(str(path))


# ------------------------------------------------------------------------------------------- models
models_app = typer.Typer(no_args_is_help=True, help="Base models: the embedded default and its cache.")


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
        raise fail(exc) from None
    done = f"converted in {prepared.seconds:.1f} s" if prepared.converted else "already cached"
    err.print(f"{name}: {done} (GGUF sha256 {prepared.source_sha256[:12]})")
    emit(str(prepared.path))


# ---------------------------------------------------------------------------------------------- dev
dev_app = typer.Typer(no_args_is_help=True, help="Local Kafka (KRaft) and DynamoDB-compatible server.")


def _stack() -> DevStack:
    from libs.devstack.settings import DevStackSettings
    from libs.devstack.stack import DevStack

    return DevStack(DevStackSettings())


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
        raise fail(exc) from None
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
        raise fail(exc) from None
    emit(f"kafka jars: {stack.kafka.libs}")
    emit(f"dynalite:   {stack.dynalite.modules}")


@dev_app.command("images", help="Build the local Docker images (debootstrap base, Kafka, dynalite).")
def dev_images(force: Annotated[bool, typer.Option(help="Rebuild even when up to date.")] = False) -> None:
    from libs.devstack.errors import DevStackError
    from libs.devstack.images import ImageBuilder, docker_usable
    from libs.devstack.settings import DevStackSettings

    if not docker_usable():
        raise fail(RuntimeError("no usable Docker engine (docker info failed)"))
    with err.status("building images...") as status:
        builder = ImageBuilder(DevStackSettings().cache_dir, on_step=lambda msg: status.update(msg))
        try:
            timings = builder.build_all(force=force)
        except DevStackError as exc:
            raise fail(exc) from None
    for name, seconds in timings.items():
        emit(f"{name:<9} {seconds:>7.1f}s")


def register(root: typer.Typer) -> None:
    """Adds ``schemas``, ``models`` and ``dev`` to the ``tuneline`` command."""
    root.add_typer(schemas_app, name="schemas")
    root.add_typer(models_app, name="models")
    root.add_typer(dev_app, name="dev")
