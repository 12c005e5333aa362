"""The three example systems together, for the demo and the end-to-end test.

systems = start_example_systems(workdir, tickets=300)
env = {**os.environ, **systems.env}          # what examples/sources.yaml reads
... run the collector with TUNELINE_COLLECTOR_CONFIG_FILE=str(SOURCES_FILE) ...
systems.planted_values()                     # values that must never leave the sanitizer
systems.stop()
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from examples.applogs import AppLogWriter
from examples.domain import sanitizer_policy_overrides
from examples.helpdesk import HelpDesk, Trickle
from examples.kb_api import KbServer, KnowledgeBase, make_articles, planted_in
from examples.people import SENSITIVE, Planted, PlantedKind
from examples.tickets import DEFAULT_SEED
from libs.devstack.servers import free_port

log = logging.getLogger(__name__)

SOURCES_FILE: Final = Path(__file__).resolve().parent / "sources.yaml"
# The variables examples/sources.yaml reads.
DB_URL_ENV: Final = "HELPDESK_DB_URL"
LOG_DIR_ENV: Final = "APP_LOG_DIR"
KB_URL_ENV: Final = "KB_API_URL"
KB_TOKEN_ENV: Final = "KB_API_TOKEN"  # noqa: S105 - a variable name
# Source names in examples/sources.yaml.
TICKETS_SOURCE: Final = "support"
LOGS_SOURCE: Final = "app-logs"
KB_SOURCE: Final = "wiki"


@dataclass
class ExampleSystems:
    """Running example systems: the help desk (and its trickle), the log writer and the KB API."""

    workdir: Path
    helpdesk: HelpDesk
    logs: AppLogWriter
    kb: KbServer
    trickle: Trickle | None = None
    stopped: bool = field(default=False, init=False)

    @property
    def env(self) -> dict[str, str]:
        """The environment examples/sources.yaml needs."""
        return {
            DB_URL_ENV: self.helpdesk.url,
            LOG_DIR_ENV: str(self.logs.dir),
            KB_URL_ENV: self.kb.articles_url,
            KB_TOKEN_ENV: self.kb.token,
        }

    @property
    def sources_file(self) -> Path:
        return SOURCES_FILE

    def expected_records(self) -> dict[str, int]:
        """Raw records each source should produce, now (ticket rows, log entries, articles)."""
        return {
            TICKETS_SOURCE: len(self.helpdesk.tickets),
            LOGS_SOURCE: len(self.logs.written),
            KB_SOURCE: len(self.kb.kb.articles),
        }

    def unique_tickets(self) -> int:
        """Ticket rows that are neither exact nor near duplicates: what the sanitizer keeps."""
        return len(self.helpdesk.unique_tickets())

    def planted(self) -> list[Planted]:
        """Every personal value and secret written into collected data so far, from all three systems."""
        found: dict[tuple[str, str], Planted] = {}
        for p in (*self.helpdesk.planted(), *self.logs.planted(), *planted_in(self.kb.kb.articles)):
            found.setdefault((p.kind, p.value), p)
        return list(found.values())

    def planted_values(self, kinds: Iterable[PlantedKind] = SENSITIVE) -> list[str]:
        """The planted values of ``kinds`` (default: names, e-mails, phones, keys, tokens, passwords)
        as plain strings, longest first: none of them may appear after the sanitizer."""
        wanted = set(kinds)
        return sorted({p.value for p in self.planted() if p.kind in wanted}, key=lambda v: (-len(v), v))

    def leaks(self, data: object, kinds: Iterable[PlantedKind] = SENSITIVE) -> list[Planted]:
        """The planted values of ``kinds`` found in ``data``: a text, or a decoded record (every string
        in its dicts and lists is searched; search decoded JSON, not its escaped text). Values match as
        substrings, except first names, which match as whole words only ("Mei" is not in "Meissner")."""
        texts = list(_strings(data))
        wanted = set(kinds)
        found = []
        for p in self.planted():
            if p.kind not in wanted:
                continue
            if p.kind is PlantedKind.FIRST_NAME:
                word = re.compile(rf"\b{re.escape(p.value)}\b")
                hit = any(word.search(t) for t in texts)
            else:
                hit = any(p.value in t for t in texts)
            if hit:
                found.append(p)
        return found

    def wait_for_logs(self, timeout_s: float | None = None) -> None:
        """Block until the log writer has written all its entries."""
        self.logs.join(timeout_s)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.trickle is not None:
            self.trickle.stop()
        self.logs.stop()
        self.kb.stop()
        self.helpdesk.close()

    def __enter__(self) -> ExampleSystems:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _strings(data: object) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _strings(value)


def write_sanitizer_policy(base: str | Path, out: str | Path) -> Path:
    """``base`` (a sanitizer policy such as config/sanitizer.yaml) with the example company's vocabulary
    added to ``names.extra_stop_words``, written to ``out``: use it for the sanitizer and for the
    evaluator's PII scan, or "Quill Sync" and "Aster Pay" are taken for people's names."""
    policy = yaml.safe_load(Path(base).read_text())
    names = policy.setdefault("names", {})
    extra = sanitizer_policy_overrides()["names"]["extra_stop_words"]
    names["extra_stop_words"] = sorted({*names.get("extra_stop_words", []), *extra})
    path = Path(out)
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def start_example_systems(
    workdir: str | Path,
    *,
    tickets: int = 300,
    seed: int = DEFAULT_SEED,
    db_url: str | None = None,
    log_lines: int = 400,
    log_rate: float = 20.0,
    log_max_bytes: int = 32 * 1024,
    kb_articles: int | None = None,
    kb_port: int | None = None,
    kb_token: str | None = None,
    trickle_interval_s: float | None = None,
    trickle_steps: int = 10,
    anchor: dt.datetime | None = None,
) -> ExampleSystems:
    """Create the help-desk database (``workdir/helpdesk.db`` unless ``db_url``), start writing logs into
    ``workdir/logs`` and serve the KB API on 127.0.0.1 (a free port unless ``kb_port``).

    ``log_lines`` counts log entries (one with a stack trace spans several lines); ``kb_articles``
    (default: one per error code, an overview per product and a how-to, 25) adds release notes past 25
    or keeps the first ones below. With ``trickle_interval_s``, a new ticket is added every so often,
    ``trickle_steps`` times.
    Everything is generated from ``seed``; timestamps are relative to ``anchor`` (default: now).
    """
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    anchor = anchor or dt.datetime.now(dt.UTC)
    desk = HelpDesk(db_url or root / "helpdesk.db", seed=seed)
    desk.create(tickets, anchor=anchor)
    kb = KnowledgeBase(make_articles(seed, anchor, count=kb_articles))
    server = KbServer(kb, kb_token or secrets.token_urlsafe(24), kb_port or free_port())
    logs = AppLogWriter(
        root / "logs", seed=seed, entries=log_lines, rate=log_rate, max_bytes=log_max_bytes, anchor=anchor
    )
    try:
        server.start()
        logs.start()
    except Exception:
        logs.stop()
        desk.close()
        raise
    trickle = None
    if trickle_interval_s is not None:
        trickle = Trickle(desk, interval_s=trickle_interval_s, steps=trickle_steps).start()
    systems = ExampleSystems(root, desk, logs, server, trickle)
    log.info(
        "example systems started",
        extra={"tickets": tickets, "kb": server.articles_url, "logs": str(logs.dir)},
    )
    return systems
