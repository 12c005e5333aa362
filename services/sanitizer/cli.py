"""``tuneline sanitizer`` (the worker) and ``tuneline sanitize`` (the same steps on a file, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from libs.cli_common import ConfigOption, err, fail, run_help, service_group

app = service_group("sanitizer", "Normalize, deduplicate and anonymize raw records (Faust).")


@app.command("run", help=run_help("sanitizer"))
def run(config: ConfigOption = None) -> None:
    from services.sanitizer.__main__ import main

    raise typer.Exit(main(config_file=config))


SANITIZE_HELP = "Sanitize RawRecord JSON lines offline (same steps as the sanitizer service)."


def sanitize(
    source: Annotated[Path, typer.Argument(help="RawRecord JSON lines.", exists=True, dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="SanitizedRecord JSON lines (overwritten).")],
    dlq: Annotated[
        Path | None,
        typer.Option("--dlq", help="Write malformed lines here and go on (else stop at the first)."),
    ] = None,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Policy YAML (default: TUNELINE_SANITIZER_CONFIG_FILE).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per NER batch.")] = 256,
) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from services.sanitizer.build import build_sanitizer, freeze_loaded_objects, keys_from_settings
    from services.sanitizer.core.errors import SanitizerError
    from services.sanitizer.core.policy import load_policy
    from services.sanitizer.offline import sanitize_file
    from services.sanitizer.settings import get_settings

    settings = get_settings()
    try:
        policy = load_policy(policy_file or settings.config_file)
        with err.status("loading the NER model..."):
            sanitizer = build_sanitizer(policy, keys_from_settings(settings))
        freeze_loaded_objects()
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
        raise fail(exc) from None
    for line in summary.lines():
        err.print(line)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
    root.command("sanitize", help=SANITIZE_HELP)(sanitize)
