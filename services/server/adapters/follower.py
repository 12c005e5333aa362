"""Keeps the served models on each dataset's production run.

The registry (the runs table's ``production`` item) is the one source of truth: a ``ModelPromoted``
event on ``training.events`` only says "look now", and a periodic read catches anything missed while
the server was down or the broker unreachable. The model loaded is always the one the registry names,
never a path taken from an event, so a forged event can at most cause an extra read.

Events and reads are handled in one thread, one after the other: the registry is written before the
event is sent, so a read is never older than an event already handled, and a switch never goes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from libs.registry import Production
from libs.schemas import ModelPromoted, SchemaError, decode_training_event
from services.server.adapters.models import ServedModels

log = logging.getLogger(__name__)


class Registry(Protocol):
    def production(self, dataset: str) -> Production | None: ...

    def production_all(self) -> dict[str, str]: ...


class RegistryFollower:
    def __init__(
        self,
        registry: Registry,
        models: ServedModels,
        datasets: Iterable[str] = (),
        poll_interval_s: float = 30.0,
        consumer: Any = None,
        on_load_error: Callable[[str], None] = lambda dataset: None,
    ) -> None:
        self.registry = registry
        self.models = models
        self.datasets = tuple(datasets)  # empty: every dataset with a production model
        self.poll_interval_s = poll_interval_s
        self.consumer = consumer
        self.on_load_error = on_load_error
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-follower", daemon=True)

    def start(self) -> RegistryFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def watched(self, dataset: str) -> bool:
        return not self.datasets or dataset in self.datasets

    def sync(self) -> None:
        """Read the registry and switch every watched dataset whose production run changed."""
        try:
            names = self.datasets or tuple(sorted(self.registry.production_all()))
        except Exception:
            log.exception("cannot read the model registry; the served models stay as they are")
            return
        for dataset in names:
            self.sync_one(dataset)

    def sync_one(self, dataset: str) -> None:
        try:
            production = self.registry.production(dataset)
        except Exception:
            log.exception("cannot read the model registry", extra={"dataset": dataset})
            return
        if production is None:
            return
        try:
            self.models.switch(dataset, production.run_id, production.model_uri)
        except Exception:  # a model that will not load leaves the old one serving; the next read retries
            log.exception(
                "cannot load the production model; the previous one keeps serving",
                extra={"dataset": dataset, "run_id": production.run_id},
            )
            self.on_load_error(dataset)

    def _run(self) -> None:
        self.sync()
        next_read = time.monotonic() + self.poll_interval_s
        while not self.stopping.is_set():
            if self.consumer is not None:
                self._poll_event()
            else:
                self.stopping.wait(min(1.0, self.poll_interval_s))
            if time.monotonic() >= next_read:
                self.sync()
                next_read = time.monotonic() + self.poll_interval_s
        if self.consumer is not None:
            self.consumer.close()

    def _poll_event(self) -> None:
        message = self.consumer.poll(1.0)
        if message is None or message.error():
            return
        try:
            event = decode_training_event(message.value())
        except SchemaError:
            return  # not ours to judge: the evaluator dead-letters malformed events
        if isinstance(event, ModelPromoted) and self.watched(event.dataset):
            log.info(
                "a promotion was announced",
                extra={"dataset": event.dataset, "run_id": event.run_id, "action": str(event.action)},
            )
            self.sync_one(event.dataset)
