"""The outbox of ``TrainingCompleted``: a run's outcome is recorded with ``announced`` false, in the same
conditional write that finishes it, and set true only once the broker acknowledged the event. The
replica that finished the run announces it at once; a sweeper on every replica announces whatever is
still false, so a broker that was down, or a replica that died between the two writes, loses nothing.

Each announcement is claimed first (a conditional write holding it for ``hold_s``, longer than the
publisher's own timeout), so the sweeper never sends again what a replica is sending right now. A
duplicate is still possible (acknowledged, then the replica died before marking) and harmless: the event
names the run, and the evaluator acts on the run's record and completes only what is missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from libs.schemas.events import RunStatus, TrainingCompleted
from services.trainer import metrics
from services.trainer.adapters.events import EventPublisher
from services.trainer.core.runs import RunRecord, RunState, RunStore

log = logging.getLogger(__name__)


def completed_event(run: RunRecord, now: dt.datetime) -> TrainingCompleted:
    status = {RunState.SUCCEEDED: RunStatus.SUCCEEDED, RunState.CANCELLED: RunStatus.CANCELLED}.get(
        run.state, RunStatus.FAILED
    )
    return TrainingCompleted(
        run_id=run.run_id,
        dataset=run.dataset,
        occurred_at=now,
        status=status,
        base_model=run.base_model or str(run.config.get("base_model", "")) or "unknown",
        model_uri=run.model_uri if status is RunStatus.SUCCEEDED else None,
        data_watermark=run.data_watermark,
        record_count=run.record_count,
        metrics=run.metrics,
        error=run.error,
    )


class Announcer:
    def __init__(
        self,
        runs: RunStore,
        events: EventPublisher,
        owner: str,
        hold_s: float = 120.0,
        sweep_interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runs, self.events, self.owner = runs, events, owner
        self.hold_s, self.sweep_interval_s, self.clock = hold_s, sweep_interval_s, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="announcement-sweeper", daemon=True)

    def announce(self, run: RunRecord) -> bool:
        """Claim, publish and mark one finished run; False when another claim holds it, or the broker
        did not acknowledge (then it stays for the sweeper)."""
        return self._announce(run) == "announced"

    def _announce(self, run: RunRecord) -> str:
        now_ms = int(self.clock() * 1000)
        if not self.runs.claim_announcement(run.run_id, self.owner, now_ms, int(self.hold_s * 1000)):
            return "claimed"
        try:
            self.events.publish(completed_event(run, run.finished_at or dt.datetime.now(dt.UTC)))
        except Exception:  # the run's record is the truth; the sweeper announces it later
            metrics.EVENTS_FAILED.inc()
            log.exception("could not publish TrainingCompleted", extra={"run_id": run.run_id})
            return "failed"
        self.runs.mark_announced(run.run_id)
        return "announced"

    def sweep(self) -> int:
        """Announce every finished run still unannounced, oldest first; stops at the first that the
        broker refuses (it is down: the next sweep tries again). Returns how many were announced."""
        pending = self.runs.unannounced()
        announced = 0
        for run in pending:
            if self._stop.is_set():
                break
            result = self._announce(run)
            if result == "failed":
                break
            if result == "announced":
                announced += 1
                metrics.REANNOUNCED.inc()
                log.info("announced a run's outcome from the outbox", extra={"run_id": run.run_id})
        metrics.UNANNOUNCED_RUNS.set(len(pending) - announced)
        return announced

    def start(self) -> Announcer:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.sweep_interval_s):
            try:
                self.sweep()
            except Exception:  # DynamoDB unreachable for a moment: the next sweep tries again
                log.exception("announcement sweep failed")
