"""Starts a run when a dataset has enough new records: every few seconds, for each scheduled dataset,
read the writer's counter and ask ``core.scheduler.decide``.

Several replicas may decide at once. They submit with the same idempotency key, derived from the
dataset's last training start and its newest run, so the store keeps exactly one run; starting (or
cancelling) it changes the key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from libs.schemas.events import TriggerReason
from services.trainer import metrics
from services.trainer.adapters.dynamodb import DatasetState
from services.trainer.core.config import TrainerConfig
from services.trainer.core.runs import ACTIVE
from services.trainer.core.scheduler import CounterState, decide
from services.trainer.executor import Clock, utc_now
from services.trainer.service import TrainerService

log = logging.getLogger(__name__)


class ThresholdScheduler:
    def __init__(
        self,
        config: TrainerConfig,
        service: TrainerService,
        datasets: DatasetState,
        interval_s: float,
        clock: Clock = utc_now,
    ) -> None:
        self.config, self.service, self.datasets = config, service, datasets
        self.interval_s, self.clock = interval_s, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="threshold-scheduler", daemon=True)

    def start(self) -> ThresholdScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_all()

    def check_all(self, on_error: Callable[[Exception], None] | None = None) -> None:
        for policy in self.config.datasets:
            if not policy.schedule:
                continue
            try:
                self.check(policy.name)
            except Exception as exc:  # one dataset's trouble must not stop the others
                log.exception("threshold check failed", extra={"dataset": policy.name})
                metrics.SCHEDULER_CHECKS.labels(policy.name, "error").inc()
                if on_error:
                    on_error(exc)

    def check(self, dataset: str) -> bool:
        """Submit a threshold run for ``dataset`` if it is due; True when one was submitted."""
        policy = self.config.policy(dataset)
        count, last_training_at = self.datasets.read(dataset)
        metrics.RECORDS_SINCE_TRAINING.labels(dataset).set(count)
        recent = self.service.list(dataset, limit=20)
        active = any(run.state in ACTIVE for run in recent)
        decision = decide(policy, CounterState(count, last_training_at), active, self.clock())
        if not decision.start:
            metrics.SCHEDULER_CHECKS.labels(dataset, "waiting").inc()
            return False
        # Replicas deciding together see the same last start and the same newest (finished) run, hence
        # the same key; a run cancelled before it started changes the newest run, so the next is allowed.
        started = last_training_at.isoformat() if last_training_at else "never"
        key = f"threshold:{dataset}:{started}:{recent[0].run_id if recent else 'none'}"
        run, created = self.service.submit(
            dataset, {}, idempotency_key=key, requested_by="scheduler", reason=TriggerReason.THRESHOLD
        )
        metrics.SCHEDULER_CHECKS.labels(dataset, "started" if created else "raced").inc()
        if created:
            log.info(
                "threshold reached: run submitted",
                extra={
                    "dataset": dataset,
                    "run_id": run.run_id,
                    "records_since_training": count,
                    "why": decision.why,
                },
            )
        return created
