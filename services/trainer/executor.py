"""Runs queued trainings, one per dataset across all replicas, each in a job process of its own.

A replica takes the dataset's lease (a conditional write in DynamoDB), moves the run queued -> running
(another conditional write), spawns ``python -m services.trainer.job RUN_ID`` in a new process group, and
supervises it: renews the lease, kills the group when a cancel is requested, and at the end records the
outcome, publishes ``TrainingCompleted`` and frees the lease. A run left ``running`` by a replica that
died (its lease expired) is failed, so the dataset is never blocked for good.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer import metrics
from services.trainer.adapters.dynamodb import DatasetState, DynamoRunStore, LeaseStore
from services.trainer.adapters.events import EventPublisher
from services.trainer.announcer import Announcer
from services.trainer.core.environment import job_environment
from services.trainer.core.runs import Progress, RunRecord, RunState
from services.trainer.job import RESULT_FILE

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ActiveJob:
    run: RunRecord
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float
    lease_renewed: float
    terminate_sent: float | None = None


class RunExecutor:
    def __init__(
        self,
        runs: DynamoRunStore,
        leases: LeaseStore,
        datasets: DatasetState,
        events: EventPublisher,
        work_dir: Path,
        lease_ttl_s: float,
        poll_interval_s: float,
        cancel_grace_s: float = 30.0,
        job_command: list[str] | None = None,
        clock: Clock = utc_now,
        announce_hold_s: float = 120.0,
        announce_sweep_s: float = 30.0,
    ) -> None:
        self.runs, self.leases, self.datasets, self.events = runs, leases, datasets, events
        self.work_dir = work_dir
        self.lease_ttl_s, self.poll_interval_s, self.cancel_grace_s = (
            lease_ttl_s,
            poll_interval_s,
            cancel_grace_s,
        )
        self.job_command = job_command or [sys.executable, "-m", "services.trainer.job"]
        self.clock = clock
        self.announcer = Announcer(runs, events, leases.owner, announce_hold_s, announce_sweep_s)
        self.active: ActiveJob | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-executor", daemon=True)
        self.healthy = True

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> RunExecutor:
        self._thread.start()
        return self

    def wake(self, _run: RunRecord | None = None) -> None:
        """Look for queued runs now (called when a run is submitted)."""
        self._wake.set()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop supervising; a run in progress is cancelled, since nobody would record its outcome."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
                self.healthy = True
            except Exception:  # DynamoDB or Kafka unreachable for a moment: log, keep going
                self.healthy = False
                log.exception("executor poll failed")
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
        if self.active is not None:
            self._kill(self.active, "the trainer is shutting down")
            self._finish(self.active, cancelled_because="the trainer shut down during the run")

    # ---- one pass ----------------------------------------------------------------------------------

    def poll_once(self) -> None:
        if self.active is not None:
            self._supervise(self.active)
            return
        runs = self.runs.list(limit=500)
        self._fail_orphans([r for r in runs if r.state is RunState.RUNNING])
        for run in sorted((r for r in runs if r.state is RunState.QUEUED), key=lambda r: r.created_at):
            if self._try_start(run):
                return

    def _try_start(self, run: RunRecord) -> bool:
        if not self.leases.acquire(run.dataset, self.lease_ttl_s, run.run_id):
            return False  # another replica is training this dataset; the run waits its turn
        now = self.clock()
        started = self.runs.move(
            run.run_id,
            {RunState.QUEUED},
            RunState.RUNNING,
            started_at=now,
            owner=self.leases.owner,
            progress=Progress(phase="starting"),
        )
        if started is None:  # cancelled or taken meanwhile
            self.leases.release(run.dataset)
            return False
        consumed, _ = self.datasets.read(run.dataset)
        self.datasets.mark_training_started(run.dataset, consumed, now)
        run_dir = self.work_dir / run.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
        log_path = run_dir / "job.log"
        with open(log_path, "ab") as job_log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
                [*self.job_command, run.run_id],
                stdout=job_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: cancel kills Ray and every worker with it
                env=job_environment(os.environ, {"PYTHONUNBUFFERED": "1"}),  # no admin token, no keys
            )
        self.active = ActiveJob(started, process, log_path, time.monotonic(), time.monotonic())
        metrics.RUNS_STARTED.labels(run.dataset, run.reason.value).inc()
        metrics.RUN_ACTIVE.set(1)
        log.info(
            "run started",
            extra={
                "run_id": run.run_id,
                "dataset": run.dataset,
                "pid": process.pid,
                "records_since_training": consumed,
            },
        )
        return True

    def _supervise(self, job: ActiveJob) -> None:
        now = time.monotonic()
        if now - job.lease_renewed > self.lease_ttl_s / 3:
            if self.leases.renew(job.run.dataset, self.lease_ttl_s):
                job.lease_renewed = now
            else:  # someone took the lease: it thinks we are dead, so we must not write a second model
                log.error("lease lost; stopping the run", extra={"run_id": job.run.run_id})
                self._kill(job, "lease lost")
        if job.process.poll() is None:
            current = self.runs.get(job.run.run_id)
            if current is not None and current.cancel_requested and job.terminate_sent is None:
                self._kill(job, "cancel requested")
            elif job.terminate_sent is not None and now - job.terminate_sent > self.cancel_grace_s:
                os.killpg(job.process.pid, signal.SIGKILL)
            return
        self._finish(job)

    def _kill(self, job: ActiveJob, why: str) -> None:
        log.info("stopping run", extra={"run_id": job.run.run_id, "why": why})
        job.terminate_sent = time.monotonic()
        try:
            os.killpg(job.process.pid, signal.SIGTERM)
            job.process.wait(self.cancel_grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(job.process.pid, signal.SIGKILL)
            job.process.wait()
        except ProcessLookupError:
            pass

    def _finish(self, job: ActiveJob, cancelled_because: str | None = None) -> None:
        self.active = None
        metrics.RUN_ACTIVE.set(0)
        run = job.run
        current = self.runs.get(run.run_id) or run
        result = _read_result(self.work_dir / run.run_id / RESULT_FILE)
        now = self.clock()
        if current.cancel_requested or cancelled_because:
            state, error = RunState.CANCELLED, cancelled_because or "cancelled on request"
        elif job.process.returncode == 0 and "model_uri" in result:
            state, error = RunState.SUCCEEDED, None
        else:
            state = RunState.FAILED
            error = str(
                result.get("error") or f"job exited with {job.process.returncode}: {_tail(job.log_path)}"
            )
        fields: dict[str, object] = {
            "finished_at": now,
            "error": error,
            "progress": current.progress.model_copy(update={"phase": "done"}),
        }
        if state is RunState.SUCCEEDED:
            fields.update(
                model_uri=result["model_uri"],
                base_model=result["base_model"],
                data_watermark=dt.datetime.fromisoformat(result["data_watermark"]),
                record_count=int(result["record_count"]),
                metrics=result["metrics"],
            )
        # The outcome and "not announced yet" in one conditional write, before any event: whoever reads
        # the event finds the record, and a lost event is found by the sweeper (the outbox).
        finished = self.runs.move(run.run_id, {RunState.RUNNING}, state, announced=False, **fields)
        if finished is None:  # another replica failed it as an orphan (our lease lapsed) and told the world
            log.warning(
                "run already finished elsewhere; outcome dropped",
                extra={"run_id": run.run_id, "state": state.value, "recorded": str(current.state)},
            )
            self.leases.release(run.dataset)
            return
        metrics.RUNS_FINISHED.labels(run.dataset, state.value).inc()
        log.info(
            "run finished",
            extra={
                "run_id": run.run_id,
                "state": state.value,
                "error": error,
                "seconds": round(time.monotonic() - job.started, 1),
            },
        )
        self._announce(finished)
        self.leases.release(run.dataset)

    def _announce(self, run: RunRecord) -> None:
        """The outcome is already recorded with ``announced`` false: announce it now; what fails here
        (broker down, DynamoDB hiccup) the sweeper announces later."""
        try:
            self.announcer.announce(run)
        except Exception:
            log.exception("could not announce the run's outcome", extra={"run_id": run.run_id})

    def _fail_orphans(self, running: list[RunRecord]) -> None:
        """Fail runs whose replica is gone: the lease on their dataset is free or expired, or we own
        them but run nothing (we restarted)."""
        now_ms = int(time.time() * 1000)
        for run in running:
            holder = self.leases.holder(run.dataset, include_expired=True)
            alive = holder is not None and not holder.expired(now_ms) and holder.run_id == run.run_id
            if alive and holder is not None and holder.owner != self.leases.owner:
                continue
            if alive and self.active is not None and self.active.run.run_id == run.run_id:
                continue
            moved = self.runs.move(
                run.run_id,
                {RunState.RUNNING},
                RunState.FAILED,
                finished_at=self.clock(),
                error="the trainer replica running it stopped (lease expired)",
                announced=False,
            )
            if moved is not None:
                log.warning("failed an orphaned run", extra={"run_id": run.run_id})
                metrics.RUNS_FINISHED.labels(run.dataset, RunState.FAILED.value).inc()
                self._announce(moved)
                if holder is not None and holder.owner == self.leases.owner:
                    self.leases.release(run.dataset)


def _read_result(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[-1500:]
    except OSError:
        return "(no job log)"
