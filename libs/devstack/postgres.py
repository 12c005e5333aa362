"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, for the collector's tests.

PostgreSQL refuses to run as root, so when we are root the cluster is owned by, and run as, the
``postgres`` user the package creates. It listens on 127.0.0.1 only and trusts local connections.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from libs.devstack.errors import StartError
from libs.devstack.probes import port_open, wait_until
from libs.devstack.process import DaemonProcess


def postgres_bindir() -> Path:
    """The newest installed server's bin folder (Debian keeps it off PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise StartError("PostgreSQL is not installed (Debian: apt-get install postgresql)")


def _major(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


class PostgresProcess:
    def __init__(self, port: int, die_with_parent: bool = True) -> None:
        self.port = port
        self._die_with_parent = die_with_parent
        self._bindir = postgres_bindir()
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # Not under pytest's 0700 tmp tree: the postgres user must reach its data folder.
        self.workdir = Path(tempfile.mkdtemp(prefix="tuneline-pg-"))
        self._daemon = DaemonProcess("postgres", self.workdir)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout_s: float = 60.0) -> PostgresProcess:
        data = self.workdir / "data"
        if self._as_user:
            entry = pwd.getpwnam("postgres")
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        subprocess.run(  # noqa: S603 - our own fixed argv
            [
                *self._as_user,
                str(self._bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.workdir,
        )
        self._daemon.start(
            [
                *self._as_user,
                str(self._bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.workdir}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            die_with_parent=self._die_with_parent,
        )
        wait_until(
            lambda: port_open("127.0.0.1", self.port),
            "PostgreSQL",
            timeout_s,
            lambda: self._daemon.pid() is not None,
        )
        return self

    def stop(self) -> None:
        self._daemon.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self) -> str:
        return self._daemon.log_tail()
