"""Switching the served model: the alias moves at once, the old model stays until its requests are done."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from services.server.adapters.models import ModelNotServed, Served, ServedModels


class FakeEngine:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


def loader(loaded: list[str]) -> Any:
    def load(dataset: str, run_id: str, uri: str) -> Any:
        if uri == "broken":
            raise OSError("no weights here")
        loaded.append(run_id)
        return FakeEngine(run_id)

    return load


def test_a_switch_serves_new_requests_at_once_and_waits_for_old_ones() -> None:
    switched: list[tuple[str, str | None]] = []
    models = ServedModels(
        loader([]), on_switch=lambda new, old: switched.append((new.run_id, old.run_id if old else None))
    )
    assert models.switch("support", "run-1", "/m/1")
    with models.lease("support") as first:
        assert models.switch("support", "run-2", "/m/2")
        with models.lease("support") as second:
            assert second.run_id == "run-2"
        assert first.run_id == "run-1" and first.retired
        time.sleep(0.2)
        assert not first.engine.stopped.is_set()  # type: ignore[attr-defined]  # a request still runs on it
    assert first.engine.stopped.wait(5)  # type: ignore[attr-defined]  # unloaded once its lease is back
    assert not second.engine.stopped.is_set()  # type: ignore[attr-defined]
    assert switched == [("run-1", None), ("run-2", "run-1")]


def test_switching_to_the_run_already_served_loads_nothing() -> None:
    loaded: list[str] = []
    models = ServedModels(loader(loaded))
    assert models.switch("support", "run-1", "/m/1")
    assert not models.switch("support", "run-1", "/m/1")
    assert loaded == ["run-1"]


def test_a_model_that_fails_to_load_leaves_the_old_one_serving() -> None:
    models = ServedModels(loader([]))
    models.switch("support", "run-1", "/m/1")
    with pytest.raises(OSError):
        models.switch("support", "run-2", "broken")
    served = models.get("support")
    assert served is not None and served.run_id == "run-1" and not served.retired


def test_a_lease_on_an_unknown_alias_or_a_run_no_longer_served_is_refused() -> None:
    models = ServedModels(loader([]))
    models.switch("support", "run-1", "/m/1")
    with pytest.raises(ModelNotServed):
        with models.lease("wiki"):
            pass
    with models.lease("support", "run-1") as pinned:
        assert pinned.run_id == "run-1"
    models.switch("support", "run-2", "/m/2")
    with pytest.raises(ModelNotServed, match="support:run-1"):
        with models.lease("support", "run-1"):
            pass


def test_a_stuck_request_does_not_keep_an_old_model_forever() -> None:
    models = ServedModels(loader([]), drain_timeout_s=0.2)
    models.switch("support", "run-1", "/m/1")
    lease = models.lease("support")
    old: Served = lease.__enter__()
    models.switch("support", "run-2", "/m/2")
    assert old.engine.stopped.wait(5)  # type: ignore[attr-defined]
    lease.__exit__(None, None, None)


def test_close_stops_every_engine() -> None:
    models = ServedModels(loader([]))
    models.switch("support", "run-1", "/m/1")
    models.switch("wiki", "run-9", "/m/9")
    engines = [s.engine for s in models.current()]
    models.close()
    assert all(e.stopped.is_set() for e in engines)  # type: ignore[attr-defined]
    assert models.current() == []
