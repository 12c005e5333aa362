"""python -m examples WORKDIR: start the three example systems and print the environment for
examples/sources.yaml; Ctrl-C stops them."""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Sequence

from examples.systems import SOURCES_FILE, start_example_systems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples", description=__doc__.split("\n")[0])
    parser.add_argument("workdir", help="folder for the database and the logs")
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--db-url", help="a SQLAlchemy URL instead of WORKDIR/helpdesk.db")
    parser.add_argument("--kb-port", type=int)
    parser.add_argument("--trickle", type=float, metavar="SECONDS", help="add a ticket at this interval")
    args = parser.parse_args(argv)
    systems = start_example_systems(
        args.workdir,
        tickets=args.tickets,
        db_url=args.db_url,
        kb_port=args.kb_port,
        trickle_interval_s=args.trickle,
    )
    lines = [f"export {name}={shlex.quote(value)}" for name, value in systems.env.items()]
    lines.append(f"# then: TUNELINE_COLLECTOR_CONFIG_FILE={SOURCES_FILE} tuneline collector run")
    print("\n".join(lines), flush=True)  # noqa: T201 - the command's output
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        systems.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
