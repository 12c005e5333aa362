"""The help-desk database: customers and support tickets, in SQLite (a path) or any SQLAlchemy URL.

    python -m examples.helpdesk --db /tmp/helpdesk.db --tickets 300
    python -m examples.helpdesk --db postgresql+psycopg://user:pw@127.0.0.1/helpdesk --tickets 300
    python -m examples.helpdesk --db /tmp/helpdesk.db --trickle 2 --trickle-count 20   # new tickets

The collector reads the ``tickets`` table (examples/sources.yaml, source ``support``): ``question`` and
``answer`` become the trainer's prompt/response pair. ``customers`` holds the people the tickets name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from examples.people import Person, Planted, PlantedKind
from examples.tickets import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    Ticket,
    TicketGenerator,
    TicketKind,
    updated_times,
)

log = logging.getLogger(__name__)

_META = sa.MetaData()
CUSTOMERS = sa.Table(
    "customers",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("account_id", sa.String(16), nullable=False, unique=True),
    sa.Column("first_name", sa.String(64), nullable=False),
    sa.Column("last_name", sa.String(64), nullable=False),
    sa.Column("email", sa.String(128), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("street", sa.String(128), nullable=False),
    sa.Column("city", sa.String(128), nullable=False),
)
TICKETS = sa.Table(
    "tickets",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("product", sa.String(64), nullable=False),
    sa.Column("error_code", sa.String(16), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
    sa.Index("ix_tickets_updated_at_id", "updated_at", "id"),
)


def database_url(db: str | Path) -> str:
    """A SQLAlchemy URL: a URL as given, a path as ``sqlite:///<absolute path>``."""
    text = str(db)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


class HelpDesk:
    """The help-desk database and the tickets written into it (``tickets``, ``planted()``)."""

    def __init__(
        self,
        db: str | Path,
        *,
        seed: int = DEFAULT_SEED,
        customers: int = DEFAULT_CUSTOMERS,
        engine: Engine | None = None,
    ) -> None:
        self.url = database_url(db)
        self.seed = seed
        self._engine = engine or sa.create_engine(self.url)
        self._generator = TicketGenerator(seed, customers)
        self._lock = threading.Lock()

    @property
    def tickets(self) -> list[Ticket]:
        with self._lock:
            return list(self._generator.tickets)

    def create(self, tickets: int, *, anchor: dt.datetime | None = None) -> list[Ticket]:
        """Create the tables (replacing earlier ones) with every customer and ``tickets`` tickets, the
        last one updated just before ``anchor`` (default: now) and the others 37 minutes apart."""
        if tickets < 0:
            raise ValueError("tickets must be at least 0")
        anchor = anchor or dt.datetime.now(dt.UTC)
        with self._lock:
            if self._generator.tickets:
                raise RuntimeError("create() runs once per HelpDesk")
            made = self._generator.take(tickets)
            times = updated_times(anchor, len(made))
            _META.drop_all(self._engine)
            _META.create_all(self._engine)
            with self._engine.begin() as conn:
                conn.execute(sa.insert(CUSTOMERS), [_customer_row(p) for p in self._generator.people])
                if made:
                    conn.execute(sa.insert(TICKETS), [t.row(at) for t, at in zip(made, times, strict=True)])
        log.info("help desk created", extra={"tickets": len(made), "url": _safe(self.url)})
        return made

    def add(self, count: int, *, now: dt.datetime | None = None) -> list[Ticket]:
        """Insert the next ``count`` tickets of the sequence, updated at ``now`` (a trickle step)."""
        at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
        with self._lock:
            made = self._generator.take(count)
            with self._engine.begin() as conn:
                conn.execute(sa.insert(TICKETS), [t.row(at) for t in made])
        return made

    def row_count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(TICKETS)).scalar_one())

    def unique_tickets(self) -> list[Ticket]:
        """Tickets that are not copies: what the sanitizer should let through (one record each)."""
        return [t for t in self.tickets if t.kind is TicketKind.ORIGINAL]

    def planted(self) -> list[Planted]:
        """Every personal value and secret written into ticket text so far (deduplicated, in order)."""
        return _unique(p for t in self.tickets for p in t.planted)

    def customer_values(self) -> list[Planted]:
        """Everything personal in the customers table (not collected by the example sources)."""
        out = []
        for p in self._generator.people:
            out += [
                Planted(PlantedKind.NAME, p.name, "helpdesk"),
                Planted(PlantedKind.EMAIL, p.email, "helpdesk"),
                Planted(PlantedKind.PHONE, p.phone, "helpdesk"),
                Planted(PlantedKind.ADDRESS, f"{p.street}, {p.city}", "helpdesk"),
            ]
        return out

    def close(self) -> None:
        self._engine.dispose()


class Trickle:
    """Adds ``per_step`` new tickets every ``interval_s`` seconds, ``steps`` times, in a thread."""

    def __init__(self, desk: HelpDesk, *, interval_s: float, per_step: int = 1, steps: int = 10) -> None:
        self.desk = desk
        self.interval_s = interval_s
        self.per_step = per_step
        self.steps = steps
        self.added = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="helpdesk-trickle", daemon=True)

    def start(self) -> Trickle:
        self._thread.start()
        return self

    def _run(self) -> None:
        for _ in range(self.steps):
            if self._stop.wait(self.interval_s):
                return
            self.added += len(self.desk.add(self.per_step))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def _customer_row(p: Person) -> dict[str, object]:
    return {
        "id": p.index + 1,
        "account_id": p.account_id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "email": p.email,
        "phone": p.phone,
        "street": p.street,
        "city": p.city,
    }


def _unique(values: Iterable[Planted]) -> list[Planted]:
    seen: dict[tuple[str, str], Planted] = {}
    for p in values:
        seen.setdefault((p.kind, p.value), p)
    return list(seen.values())


def _safe(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.helpdesk", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLite file path or SQLAlchemy URL")
    parser.add_argument("--tickets", type=int, default=300, help="tickets to create (default 300)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--trickle", type=float, metavar="SECONDS", help="then add tickets at this interval")
    parser.add_argument("--trickle-count", type=int, default=10, help="how many trickle steps (default 10)")
    args = parser.parse_args(argv)
    desk = HelpDesk(args.db, seed=args.seed, customers=args.customers)
    made = desk.create(args.tickets)
    kinds = {kind: sum(t.kind is kind for t in made) for kind in TicketKind}
    print(  # noqa: T201 - the command's output
        f"{_safe(desk.url)}: {len(made)} tickets ({kinds[TicketKind.ORIGINAL]} unique, "
        f"{kinds[TicketKind.EXACT_DUPLICATE]} exact and {kinds[TicketKind.NEAR_DUPLICATE]} near duplicates), "
        f"{len(desk.customer_values()) // 4} customers, {len(desk.planted())} planted values"
    )
    if args.trickle:
        trickle = Trickle(desk, interval_s=args.trickle, steps=args.trickle_count).start()
        try:
            trickle.join()
        except KeyboardInterrupt:
            trickle.stop()
        print(f"added {trickle.added} tickets; {desk.row_count()} in total")  # noqa: T201
    desk.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
