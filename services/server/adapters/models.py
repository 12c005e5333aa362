"""The models being served, one per dataset alias, and the switch from one to the next.

A switch loads the new model beside the old one, then swaps the alias in one assignment under a lock:
a request holds a lease on the model it started with, so it finishes there; the old model is stopped
and dropped once its last lease is returned (or after ``drain_timeout_s``). No request sees a half-loaded
model and none fails because of a switch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from services.server.adapters.engine import Engine

log = logging.getLogger(__name__)

Loader = Callable[[str, str, str], Engine]  # (dataset, run id, model uri) -> a loaded engine


@dataclass(eq=False)
class Served:
    dataset: str
    run_id: str
    model_uri: str
    engine: Engine
    loaded_at: float = field(default_factory=time.time)
    leases: int = 0
    retired: bool = False


class ModelNotServed(LookupError):
    pass


class ServedModels:
    def __init__(
        self,
        loader: Loader,
        drain_timeout_s: float = 300.0,
        on_switch: Callable[[Served, Served | None], None] = lambda new, old: None,
    ) -> None:
        self._loader = loader
        self._drain_timeout_s = drain_timeout_s
        self._on_switch = on_switch
        self._current: dict[str, Served] = {}
        self._lock = threading.Condition()
        self._switching: dict[str, threading.Lock] = {}

    def current(self) -> list[Served]:
        with self._lock:
            return sorted(self._current.values(), key=lambda s: s.dataset)

    def get(self, dataset: str) -> Served | None:
        with self._lock:
            return self._current.get(dataset)

    @contextmanager
    def lease(self, dataset: str, run_id: str | None = None) -> Iterator[Served]:
        """The dataset's model, kept loaded until the block ends; ``run_id`` pins a run (it must be the
        one in production now)."""
        with self._lock:
            served = self._current.get(dataset)
            if served is None or (run_id is not None and served.run_id != run_id):
                raise ModelNotServed(dataset if run_id is None else f"{dataset}:{run_id}")
            served.leases += 1
        try:
            yield served
        finally:
            with self._lock:
                served.leases -= 1
                self._lock.notify_all()

    def switch(self, dataset: str, run_id: str, model_uri: str) -> bool:
        """Serve ``run_id`` for ``dataset``; False when it is already served. Loading happens outside
        the lock, so requests keep flowing to the old model meanwhile; a failed load raises and leaves
        the old model serving."""
        with self._lock:
            guard = self._switching.setdefault(dataset, threading.Lock())
        with guard:  # two switches of one dataset load one after the other, in the order asked
            current = self.get(dataset)
            if current is not None and current.run_id == run_id:
                return False
            started = time.monotonic()
            engine = self._loader(dataset, run_id, model_uri)
            new = Served(dataset, run_id, model_uri, engine)
            with self._lock:
                old = self._current.get(dataset)
                self._current[dataset] = new
                if old is not None:
                    old.retired = True
            log.info(
                "serving a new model",
                extra={
                    "dataset": dataset,
                    "run_id": run_id,
                    "previous_run_id": old.run_id if old else None,
                    "load_s": round(time.monotonic() - started, 2),
                },
            )
            self._on_switch(new, old)
            if old is not None:
                threading.Thread(
                    target=self._retire, args=(old,), name=f"retire-{old.run_id}", daemon=True
                ).start()
            return True

    def _retire(self, old: Served) -> None:
        deadline = time.monotonic() + self._drain_timeout_s
        with self._lock:
            while old.leases > 0 and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            left = old.leases
        if left:
            log.warning(
                "unloading a model with requests still on it", extra={"run_id": old.run_id, "leases": left}
            )
        old.engine.stop()
        log.info("unloaded the previous model", extra={"dataset": old.dataset, "run_id": old.run_id})

    def close(self) -> None:
        with self._lock:
            served, self._current = list(self._current.values()), {}
        for item in served:
            item.engine.stop()
