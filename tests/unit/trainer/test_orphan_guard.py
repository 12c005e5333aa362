"""A job whose trainer is killed stops with its process group (services/trainer/orphan_guard.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The trainer stand-in: starts a "job" in a session of its own, as the executor does, which starts a
# "Ray worker" in the same group; prints both pids and waits to be killed.
TRAINER = """
import subprocess, sys, time
job = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1]], start_new_session=True, stdout=subprocess.PIPE, text=True
)
print(job.pid, job.stdout.readline().strip(), flush=True)
time.sleep(120)
"""
JOB = """
import subprocess, sys, time
from services.trainer.orphan_guard import stop_when_orphaned
stop_when_orphaned(poll_s=0.05, grace_s=0.5)
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(worker.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its parent (now init) has not reaped it yet


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def test_a_job_and_its_workers_stop_when_the_trainer_is_killed() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, JOB], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert trainer.stdout is not None
    job_pid, worker_pid = (int(pid) for pid in trainer.stdout.readline().split())
    try:
        time.sleep(0.3)
        assert _alive(job_pid) and _alive(worker_pid), "the guard must not stop a supervised job"
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(timeout=10)
        assert _wait_gone([job_pid, worker_pid], timeout_s=15) == []
    finally:
        for pid in (job_pid, worker_pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if trainer.poll() is None:
            trainer.kill()
