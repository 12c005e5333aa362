"""``tuneline serve`` (and ``tuneline server run``): the OpenAI-compatible model server."""

from __future__ import annotations

import typer

from libs.cli_common import run_help, service_group

app = service_group("server", "Serve each dataset's production model over an OpenAI-compatible API.")


@app.command("run", help=run_help("server"))
def run() -> None:
    from services.server.__main__ import main

    raise typer.Exit(main())


def register(root: typer.Typer) -> None:
    root.add_typer(app)
    root.command("serve", help="Serve each dataset's production model (OpenAI-compatible, port 8085).")(run)
