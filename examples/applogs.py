"""Application logs of the Larkspur services, written while the demo runs and rotated by rename.

    python -m examples.applogs --dir /tmp/logs --entries 400 --rate 20

Entry ``n`` depends only on the seed, the anchor time and ``n``: request lines, retries, Java and
Python stack traces (multi-line, continuation lines never start with a date), and the leaks real logs
have: customer e-mails and phone numbers, a bearer token in a debug dump, an API key in a warning, a
database password in a connection URL. ``app.log`` is renamed to ``app.log.1`` (``.1`` to ``.2``...)
when it reaches ``max_bytes``; at most ``backups`` old files are kept (a single digit, as the sources
file's ``*.log.[0-9]`` glob expects), and the writer stops after ``entries`` entries: bounded on disk.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from examples.domain import ISSUES
from examples.people import Planted, PlantedKind, api_key, bearer_token, password, person
from examples.tickets import DEFAULT_CUSTOMERS, DEFAULT_SEED

log = logging.getLogger(__name__)

LOG_NAME: Final = "app.log"


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    text: str  # one or more lines, ending with a newline
    level: str
    planted: tuple[Planted, ...]


def _ts(anchor: dt.datetime, index: int, spacing_s: float) -> str:
    at = anchor.astimezone(dt.UTC) + dt.timedelta(seconds=index * spacing_s)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


_PATHS: Final = (
    "/v2/hubs/{id}/devices",
    "/v2/notebooks/{id}/sync",
    "/v1/charges/{id}",
    "/v3/mesh/{id}/satellites",
    "/v2/account/{id}",
)


def make_entry(
    seed: int, anchor: dt.datetime, index: int, spacing_s: float = 0.05, customers: int = DEFAULT_CUSTOMERS
) -> LogEntry:
    """The ``index``-th log entry (0-based) of ``seed``, stamped ``anchor + index * spacing_s``."""
    rng = random.Random(f"{seed}:log:{index}")
    who = person(seed, rng.randrange(customers))
    ts = _ts(anchor, index, spacing_s)
    issue = rng.choice(ISSUES)
    ident = f"{rng.randrange(16**8):08x}"
    roll = rng.random()
    planted: list[Planted] = []

    def plant(kind: PlantedKind, value: str) -> str:
        planted.append(Planted(kind, value, "applogs"))
        return value

    if roll < 0.42:
        path = rng.choice(_PATHS).format(id=ident)
        status, ms = rng.choice((200, 200, 200, 201, 204, 304, 404)), rng.randrange(3, 900)
        level, text = (
            "INFO",
            (
                f"[api-gateway] GET {path} {status} {ms}ms user={plant(PlantedKind.EMAIL, who.email)} "
                f"request_id=req_{ident}"
            ),
        )
    elif roll < 0.55:
        level, text = (
            "WARN",
            (
                f"[{issue.product.lower().replace(' ', '-')}-cloud] device {ident} reported {issue.code}: "
                f"{issue.title.split(' (')[0]}; retry in {rng.choice((5, 15, 30, 60))}s"
            ),
        )
    elif roll < 0.62:
        token = plant(PlantedKind.BEARER_TOKEN, bearer_token(rng))
        level, text = (
            "DEBUG",
            (
                f"[checkout] outgoing POST https://api.asterpay.example/v1/charges "
                f"headers={{'Content-Type': 'application/json', 'Authorization': 'Bearer {token}'}}"
            ),
        )
    elif roll < 0.68:
        key = plant(PlantedKind.API_KEY, api_key(rng))
        level, text = (
            "WARN",
            (
                f"[aster-webhooks] signature mismatch for merchant {plant(PlantedKind.EMAIL, who.email)} "
                f"using api_key={key}; event dropped"
            ),
        )
    elif roll < 0.73:
        phone = plant(PlantedKind.PHONE, who.phone)
        level, text = (
            "INFO",
            f"[sms-gateway] sent verification code {ident} to {phone} for account {who.account_id}",
        )
    elif roll < 0.77:
        secret = plant(PlantedKind.PASSWORD, password(rng))
        level, text = (
            "ERROR",
            (
                f"[helpdesk-db] connection {ident} lost, reconnecting to "
                f"postgresql://helpdesk:{secret}@db-{rng.randrange(1, 4)}.larkspur.internal:5432/helpdesk"
            ),
        )
    elif roll < 0.89:
        level, text = "ERROR", _java_trace(rng, plant(PlantedKind.EMAIL, who.email), ident)
    else:
        level, text = "ERROR", _python_trace(rng, plant(PlantedKind.EMAIL, who.email), ident)
    return LogEntry(index, f"{ts} {level} {text}\n", level, tuple(planted))


def _codes(product: str) -> list[str]:
    return [i.code for i in ISSUES if i.product == product]


def _java_trace(rng: random.Random, email: str, ident: str) -> str:
    service, exc, product = rng.choice(
        (
            ("payments-core", "com.larkspur.pay.PaymentRejectedException", "Aster Pay"),
            ("mesh-controller", "com.larkspur.mesh.BackhaulLostException", "Tandem Mesh"),
            ("hub-bridge", "com.larkspur.nimbus.PairingFailedException", "Nimbus Hub"),
        )
    )
    code = rng.choice(_codes(product))
    pkg = exc.rsplit(".", 1)[0]
    cls = rng.choice(("Service", "Handler", "Worker"))
    frames = [
        f"\tat {pkg}.{cls}.process({cls}.java:{rng.randrange(40, 400)})",
        f"\tat {pkg}.api.Controller.handle(Controller.java:{rng.randrange(20, 200)})",
        "\tat org.eclipse.jetty.server.handler.HandlerWrapper.handle(HandlerWrapper.java:127)",
        "\tat java.base/java.lang.Thread.run(Thread.java:840)",
    ]
    cause = [
        f"Caused by: java.net.SocketTimeoutException: Read timed out after {rng.randrange(5, 30)}000 ms",
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
        f"\t... {rng.randrange(8, 30)} more",
    ]
    return "\n".join(
        [
            f"[{service}] unhandled exception for customer {email} (trace {ident})",
            f"{exc}: {code} while handling request req_{ident}",
            *frames,
            *(cause if rng.random() < 0.5 else []),
        ]
    )


def _python_trace(rng: random.Random, email: str, ident: str) -> str:
    code = rng.choice(_codes("Quill Sync"))
    module = rng.choice(("sync/queue.py", "sync/upload.py", "search/index.py", "billing/plans.py"))
    return "\n".join(
        [
            f"[quill-sync] job {ident} failed for user {email}",
            "Traceback (most recent call last):",
            f'  File "/srv/quill/{module}", line {rng.randrange(20, 400)}, in run',
            "    result = self._step(item)",
            f'  File "/srv/quill/{module}", line {rng.randrange(20, 400)}, in _step',
            f'    raise QuillError(code="{code}", item=item.id)',
            f"quill.errors.QuillError: {code} on item {ident}",
        ]
    )


class AppLogWriter:
    """Writes ``entries`` entries into ``log_dir/app.log`` at ``rate`` per second, rotating by rename.

    ``write_all()`` writes everything at once; ``start()`` / ``stop()`` run the same in a thread.
    """

    def __init__(
        self,
        log_dir: str | Path,
        *,
        seed: int = DEFAULT_SEED,
        entries: int = 400,
        rate: float = 20.0,
        max_bytes: int = 32 * 1024,
        backups: int = 9,
        anchor: dt.datetime | None = None,
    ) -> None:
        if not 1 <= backups <= 9:
            raise ValueError("backups must be between 1 and 9 (the sources glob is *.log.[0-9])")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.dir = Path(log_dir)
        self.seed = seed
        self.entries = entries
        self.rate = rate
        self.max_bytes = max_bytes
        self.backups = backups
        self.anchor = anchor or dt.datetime.now(dt.UTC)
        self.written: list[LogEntry] = []
        self.rotations = 0
        self.deleted_files = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> Path:
        return self.dir / LOG_NAME

    @property
    def done(self) -> bool:
        return len(self.written) >= self.entries

    def write_all(self) -> list[LogEntry]:
        while not self.done:
            self._write_next()
        return list(self.written)

    def start(self) -> AppLogWriter:
        self._thread = threading.Thread(target=self._run, name="applogs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        while not self.done and not self._stop.wait(interval):
            self._write_next()

    def _write_next(self) -> None:
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            entry = make_entry(self.seed, self.anchor, len(self.written), 1.0 / self.rate)
            data = entry.text.encode()
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                self._rotate()
            # One write per entry: a reader never sees half of a stack trace's first line.
            with open(self.path, "ab") as f:
                f.write(data)
            self.written.append(entry)

    def _rotate(self) -> None:
        oldest = self.dir / f"{LOG_NAME}.{self.backups}"
        if oldest.exists():
            oldest.unlink()
            self.deleted_files += 1
        for n in range(self.backups - 1, 0, -1):
            older = self.dir / f"{LOG_NAME}.{n}"
            if older.exists():
                os.replace(older, self.dir / f"{LOG_NAME}.{n + 1}")
        os.replace(self.path, self.dir / f"{LOG_NAME}.1")
        self.rotations += 1

    def planted(self) -> list[Planted]:
        with self._lock:
            found = {(p.kind, p.value): p for e in self.written for p in e.planted}
        return list(found.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.applogs", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="folder of app.log and its rotations")
    parser.add_argument("--entries", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="entries per second (default 20)")
    parser.add_argument("--max-bytes", type=int, default=32 * 1024, help="rotate at this size")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    writer = AppLogWriter(
        args.dir, seed=args.seed, entries=args.entries, rate=args.rate, max_bytes=args.max_bytes
    ).start()
    try:
        writer.join()
    except KeyboardInterrupt:
        writer.stop()
    print(  # noqa: T201 - the command's output
        f"{len(writer.written)} entries in {writer.dir}, {writer.rotations} rotations, "
        f"{writer.deleted_files} old files deleted"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
