"""``tuneline trainer`` (admin API, scheduler, runs) and ``tuneline lineage`` (model <-> records)."""

from __future__ import annotations

from typing import Annotated

import typer

from libs.cli_common import ConfigOption, emit, fail, run_help, service_group

app = service_group("trainer", "Admin API, scheduler and fine-tuning runs.")


@app.command("run", help=run_help("trainer"))
def run(config: ConfigOption = None) -> None:
    from services.trainer.__main__ import main

    raise typer.Exit(main(config_file=config))


LINEAGE_HELP = "What a model was trained on (RUN_ID), or which models a record went into."


def lineage(
    run_id: Annotated[str | None, typer.Argument(help="A run with a model: show its manifest.")] = None,
    records: Annotated[bool, typer.Option("--records", help="List the run's record ids and splits.")] = False,
    record: Annotated[
        list[str] | None, typer.Option("--record", help="A record id (repeatable): source, position, models.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="With --record: only this dataset's runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    from libs.model_folder.lineage import LineageError
    from services.trainer.core.errors import RunNotFound
    from services.trainer.lineage import reader_from_settings, show_model, show_records

    if (run_id is None) == (not record):
        raise typer.BadParameter("give either RUN_ID or --record ID")
    try:
        if run_id is not None:
            show_model(reader_from_settings(), run_id, records, as_json, emit)
        else:
            show_records(reader_from_settings(), record or [], dataset, as_json, emit)
    except (RunNotFound, LineageError) as exc:
        raise fail(exc) from None


def register(root: typer.Typer) -> None:
    root.add_typer(app)
    root.command("lineage", help=LINEAGE_HELP)(lineage)
