"""Progress from a training worker to the run's record, throttled: a step logs every few seconds at most."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from libs.common.aws import dynamodb_client
from libs.common.settings import SharedSettings
from services.trainer.adapters.dynamodb import DynamoRunStore
from services.trainer.core.job import JobSpec
from services.trainer.core.runs import Progress

log = logging.getLogger(__name__)


class ProgressWriter:
    def __init__(self, spec: JobSpec, min_interval_s: float = 2.0) -> None:
        if spec.progress is None:
            raise ValueError("the job spec names no progress target")
        target = spec.progress
        where = SharedSettings(dynamodb_endpoint=target.dynamodb_endpoint, aws_region=target.aws_region)
        client = dynamodb_client(where)
        self._store = DynamoRunStore(client, target.table_prefix)
        self._run_id = spec.run_id
        self._min_interval_s = min_interval_s
        self._last = 0.0
        self._metrics: dict[str, float] = {}

    def training(
        self, step: int, max_steps: int, epoch: float, logs: dict[str, Any], force: bool = False
    ) -> None:
        for key, value in logs.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self._metrics[key] = float(value)
        now = time.monotonic()
        if not force and now - self._last < self._min_interval_s:
            return
        self._last = now
        try:
            self._store.update(
                self._run_id,
                progress=Progress(step=step, max_steps=max_steps, epoch=epoch, phase="training"),
                metrics=dict(self._metrics),
            )
        except Exception:  # progress is informative; a failed write must not fail the training
            log.warning("could not record progress", exc_info=True, extra={"run_id": self._run_id})
