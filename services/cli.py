"""The ``tuneline`` command (``python -m services.cli``): every service's sub-commands, put together.

Each service owns its commands in ``services/<name>/cli.py`` (a ``register(root)`` that adds them);
``libs.cli_tools`` adds those of no service (``schemas``, ``models``, ``dev``). Command modules import
only typer and ``libs.cli_common`` at the top, so building the whole command loads no service.
"""

from __future__ import annotations

import sys

import typer

from libs import cli_tools
from services.collector import cli as collector
from services.evaluator import cli as evaluator
from services.sanitizer import cli as sanitizer
from services.trainer import cli as trainer
from services.writer import cli as writer

SERVICES = {module.app.info.name: module for module in (collector, sanitizer, writer, trainer, evaluator)}

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="tuneline: internal data to a fine-tuned LLM."
)
for _module in SERVICES.values():
    _module.register(app)
cli_tools.register(app)


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that end the command with one line instead of a traceback (imported only on failure)."""
    from libs.common.aws import AwsCredentialsMissing
    from libs.devstack.errors import DevStackError
    from libs.schemas import SchemaError

    return DevStackError, SchemaError, OSError, AwsCredentialsMissing


def main() -> None:
    from libs.cli_common import err

    try:
        sys.exit(app(standalone_mode=True))
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):  # a setting from the environment is malformed
            err.print(f"[red]invalid settings:[/red] {exc}")
            sys.exit(2)
        if isinstance(exc, _user_errors()):
            err.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # one line, whatever the terminal width
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
