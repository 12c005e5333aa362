"""``tuneline collector``: the collector's sub-commands."""

from __future__ import annotations

import typer

from libs.cli_common import ConfigOption, run_help, service_group

app = service_group("collector", "Stream SQL, log-file and HTTP-API sources onto Kafka.")


@app.command("run", help=run_help("collector"))
def run(config: ConfigOption = None) -> None:
    from services.collector.__main__ import main

    raise typer.Exit(main(config_file=config))


def register(root: typer.Typer) -> None:
    root.add_typer(app)
