"""``tuneline writer``: the writer's sub-commands."""

from __future__ import annotations

import typer

from libs.cli_common import err, run_help, service_group

app = service_group("writer", "Store sanitized records in DynamoDB.")


@app.command("run", help=run_help("writer"))
def run() -> None:
    from services.writer.__main__ import main

    raise typer.Exit(main())


@app.command("init-tables", help="Create the DynamoDB tables (records, state, runs) if missing.")
def init_tables() -> None:
    from libs.storage.tables import init_tables
    from services.writer.__main__ import dynamodb_client
    from services.writer.settings import get_settings

    settings = get_settings()
    created = init_tables(dynamodb_client(settings), settings.shared.table_prefix)
    err.print(f"created: {', '.join(created)}" if created else "all tables already exist")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
