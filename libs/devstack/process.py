"""A long-running local server started in the background, tracked by a pid file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DaemonProcess:
    """A detached child process: its own session (so it outlives the CLI), output in ``log_path``."""

    name: str
    workdir: Path

    @property
    def pid_path(self) -> Path:
        return self.workdir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid if the process recorded in the pid file is still alive, else None."""
        try:
            pid_text, _, started = self.pid_path.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (FileNotFoundError, ValueError):
            return None
        # The pid file also records the kernel's start time of the process: a recycled pid
        # belongs to a process that started later, and a zombie has exited.
        stat = _proc_stat(pid)
        if stat is None or stat[0] == "Z" or stat[1] != started:
            return None
        return pid

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        die_with_parent: bool = False,
        base_env: Mapping[str, str] | None = None,
    ) -> int:
        """Start ``argv`` in the background, in a session of its own so it outlives the caller
        (``tuneline dev up``), or, with ``die_with_parent``, killed by the kernel when the caller
        dies (test fixtures: a killed test run leaves no server behind). Its environment is
        ``base_env`` (default: this process's) updated with ``env``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env={**(os.environ if base_env is None else base_env), **(env or {})},
                start_new_session=True,
                preexec_fn=kill_me_with_parent if die_with_parent else None,
            )
        stat = _proc_stat(proc.pid)
        self.pid_path.write_text(f"{proc.pid} {stat[1] if stat else ''}")
        return proc.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout_s``); False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.2)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.pid() is not None and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if self.pid() is not None:
                raise OSError(f"{self.name} (pid {pid}) survived SIGKILL; pid file kept")
        _reap(pid)
        self.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a live process, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return fields[0], fields[19]


def kill_me_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGKILL it when its parent exits."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (the test fixtures' case)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
