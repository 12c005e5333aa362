"""What every part of the ``tuneline`` command shares: output for people and for machines, the error exit,
the ``--config`` option and the ``run`` group of a service.

It imports no service: each service builds its sub-commands from these in ``services/<name>/cli.py``, and
``services/cli.py`` puts them together. Imports of a command's work stay inside the command, so that
``tuneline --help`` is fast and a service's CLI loads only that service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)  # progress and messages for people

# `tuneline <service> run --config FILE`: the service's YAML file instead of its `config_file` setting.
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="The YAML file (default: the service's config_file setting)."),
]


def emit(line: str) -> None:
    """A machine-readable line on stdout (env assignment, path): never wrapped or styled."""
    typer.echo(line)


def fail(exc: Exception) -> typer.Exit:
    """The one-line error of a command that could not do its work (exit status 1)."""
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def service_group(name: str, help_text: str) -> typer.Typer:
    """The ``tuneline <name>`` group; the service adds its ``run`` (and any other) command to it."""
    return typer.Typer(name=name, no_args_is_help=True, help=help_text)


def run_help(name: str) -> str:
    return f"Run the {name} (same as python -m services.{name})."
