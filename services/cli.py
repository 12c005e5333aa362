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
from services.server import cli as server
from services.trainer import cli as trainer
from services.writer import cli as writer

SERVICES = {
    module.app.info.name: module for module in (collector, sanitizer, writer, trainer, evaluator, server)
}

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="tuneline: internal data to a fine-tuned LLM."
)


def _command_names(root: typer.Typer) -> set[str]:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in root.registered_commands}
    groups = {g.name or (g.typer_instance and g.typer_instance.info.name) for g in root.registered_groups}
    return commands | {name for name in groups if isinstance(name, str)}


EXTRA_OF: dict[str, str] = {}  # top-level command -> the extra that installs what it needs
for _name, _module in SERVICES.items():
    _before = _command_names(app)
    _module.register(app)
    EXTRA_OF |= dict.fromkeys(_command_names(app) - _before, _name)
cli_tools.register(app)
EXTRA_OF["models"] = "models"


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that end the command with one line instead of a traceback (imported only on failure)."""
    from libs.common.aws import AwsCredentialsMissing
    from libs.devstack.errors import DevStackError
    from libs.schemas import SchemaError

    return DevStackError, SchemaError, OSError, AwsCredentialsMissing


def main() -> None:
    from rich.markup import escape

    from libs.cli_common import err

    try:
        sys.exit(app(standalone_mode=True))
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("libs", "services"):
            raise
        command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
        hint = f"pip install 'tuneline[{EXTRA_OF[command]}]'" if command in EXTRA_OF else "its extra"
        err.print(f"[red]error:[/red] {escape(str(exc))}: this command needs {escape(hint)}", soft_wrap=True)
        sys.exit(1)
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
