"""``make demo`` / ``python -m examples.demo``: the whole mission on this machine, from the example
internal systems to a fine-tuned, evaluated and promoted model, with a live view and a summary.

``python -m examples.demo down`` stops what ``--keep-running`` left up.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.live import Live

from examples.demo import view as render
from examples.demo.answers import side_by_side
from examples.demo.pipeline import (
    DEMO,
    SMALL,
    DemoError,
    DemoPipeline,
    clean_workdir,
    default_workdir,
    stop_leftovers,
)

console = Console(highlight=False)
if not console.is_terminal:  # a log file: long lines rather than wrapped ones
    console = Console(highlight=False, width=200)


def base_model_folder(model_dir: Path) -> str:
    """The folder of the base model a run was fine-tuned from, as its manifest names it."""
    from libs.models import resolve_base_model

    manifest = json.loads((model_dir / "manifest.json").read_text())
    if manifest.get("base_model_dir"):
        return str(model_dir / manifest["base_model_dir"])
    return resolve_base_model(manifest["base_model"])


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo the same way Ctrl-C does: everything is cleaned up


def run(args: argparse.Namespace) -> int:
    from examples import held_out_questions

    sizing = SMALL if args.small else DEMO
    workdir: Path = args.workdir
    stop_leftovers(workdir)
    clean_workdir(workdir)
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    pipeline = DemoPipeline(workdir, sizing, keep_running=args.keep_running)
    with console.status(
        "starting Kafka, the DynamoDB-compatible server, the example systems and six services"
    ):
        pipeline.__enter__()
    try:
        seconds["start"] = time.monotonic() - t0
        console.print(
            f"[green]pipeline up[/] in {seconds['start']:.0f} s; service logs in {workdir / 'logs'}"
        )
        t1 = time.monotonic()
        last = None
        if console.is_terminal:
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                for last in pipeline.watch(timeout_s=args.timeout):
                    live.update(render.live(last, time.monotonic() - t0, sizing.threshold_records))
        else:  # a log file or CI: one line when the phase changes, and every 15 s
            said, said_at = "", 0.0
            for last in pipeline.watch(timeout_s=args.timeout, refresh_s=2.0):
                line = render.progress_line(last)
                if line != said or time.monotonic() - said_at > 15:
                    console.print(f"{time.monotonic() - t0:5.0f} s  {line}")
                    said, said_at = line, time.monotonic()
            if last is not None:
                console.print(render.live(last, time.monotonic() - t0, sizing.threshold_records))
        if last is None:  # watch() yields at least once or raises; kept for the type checker
            raise DemoError("the pipeline was never observed")
        result = pipeline.result(last)
        seconds["collect, train, evaluate"] = time.monotonic() - t1
        model_dir = Path(str(result.run.model_uri))
        t2 = time.monotonic()
        with console.status("asking the base and the fine-tuned model the held-out questions"):
            answers = side_by_side(base_model_folder(model_dir), model_dir, held_out_questions()[:2])
        seconds["answers"] = time.monotonic() - t2
        served = None
        if result.evaluation["decision"] == "promoted":  # production moved: the model server follows it
            t3 = time.monotonic()
            with console.status(
                "asking the model server, through the OpenAI API, once it serves the new model"
            ):
                served = pipeline.ask_served_model(held_out_questions()[0][0], result.run.run_id)
            seconds["served answer"] = time.monotonic() - t3
        seconds["total"] = time.monotonic() - t0
        report_path = model_dir / "evaluation" / "evaluation.md"
        console.print(
            render.summary(
                last, result.evaluation, answers, str(model_dir), str(report_path), seconds, served
            )
        )
        if args.keep_running:
            where = "" if workdir == default_workdir() else f" --workdir {workdir}"
            question = json.dumps({"model": "support", "messages": [{"role": "user", "content": "Hello?"}]})
            auth = f"Authorization: Bearer {pipeline.admin_token}"
            console.print(
                f"\nthe stack keeps running. admin API: {pipeline.admin_url}  token: {pipeline.admin_token}\n"
                f"  curl -H 'Authorization: Bearer {pipeline.admin_token}' "
                f"{pipeline.admin_url}/v1/trainings\n"
                f"model server (OpenAI-compatible): {pipeline.server_url}/v1, same token\n"
                f"  curl -H '{auth}' -H 'Content-Type: application/json' \\\n"
                f"    {pipeline.server_url}/v1/chat/completions -d '{question}'\n"
                f"stop it with: .venv/bin/python -m examples.demo down{where}\n"
                "(the example systems ran inside this process and are gone: the collector retries them)"
            )
        return 0
    finally:
        # A second Ctrl-C or SIGTERM (timeout and a shell both forward one) must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        pipeline.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "down"])
    parser.add_argument("--keep-running", action="store_true", help="Leave the stack up at the end.")
    parser.add_argument("--small", action="store_true", help="Less data and training (the e2e test's size).")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="State, logs and models.")
    # About 10 minutes on 2 idle cores; twice that and more when the machine is busy: the limit is there
    # to end a stuck run, not a slow one.
    parser.add_argument("--timeout", type=float, default=2400.0, help="Seconds allowed for data to decision.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "down":
        stopped = stop_leftovers(args.workdir)
        console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args)
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: everything the demo started was stopped[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
