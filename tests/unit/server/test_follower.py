"""Following the registry: the production item decides which run is served; events only say when to look."""

from __future__ import annotations

import datetime as dt
from typing import Any

from libs.registry import Production
from libs.schemas import ModelPromoted, PromotionAction
from services.server.adapters.follower import RegistryFollower


def production(dataset: str, run_id: str, uri: str) -> Production:
    return Production(dataset, run_id, uri, dt.datetime.now(dt.UTC), "evaluator", "promote", "", None, [])


class FakeRegistry:
    def __init__(self) -> None:
        self.items: dict[str, Production] = {}
        self.fail = False

    def production(self, dataset: str) -> Production | None:
        if self.fail:
            raise ConnectionError("DynamoDB unreachable")
        return self.items.get(dataset)

    def production_all(self) -> dict[str, str]:
        if self.fail:
            raise ConnectionError("DynamoDB unreachable")
        return {d: p.run_id for d, p in self.items.items()}


class FakeModels:
    def __init__(self) -> None:
        self.switches: list[tuple[str, str, str]] = []
        self.broken: set[str] = set()

    def switch(self, dataset: str, run_id: str, uri: str) -> bool:
        if run_id in self.broken:
            raise OSError("cannot load")
        self.switches.append((dataset, run_id, uri))
        return True


class Message:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value


class FakeConsumer:
    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages

    def poll(self, timeout: float) -> Message | None:
        return Message(self.messages.pop(0)) if self.messages else None


def promoted(dataset: str, run_id: str, uri: str) -> bytes:
    event = ModelPromoted(run_id=run_id, dataset=dataset, occurred_at=dt.datetime.now(dt.UTC), model_uri=uri,
                          action=PromotionAction.PROMOTE, by="evaluator")  # fmt: skip
    return event.model_dump_json().encode()


def follower(
    registry: FakeRegistry, models: FakeModels, datasets: tuple[str, ...] = (), **kw: Any
) -> RegistryFollower:
    return RegistryFollower(registry, models, datasets, 60.0, **kw)  # type: ignore[arg-type]


def test_a_read_serves_every_dataset_in_production_or_only_those_configured() -> None:
    registry, models = FakeRegistry(), FakeModels()
    registry.items = {
        "support": production("support", "r1", "/m/r1"),
        "wiki": production("wiki", "w1", "/m/w1"),
    }
    follower(registry, models).sync()
    assert sorted(models.switches) == [("support", "r1", "/m/r1"), ("wiki", "w1", "/m/w1")]
    only = FakeModels()
    follower(registry, only, ("wiki",)).sync()
    assert only.switches == [("wiki", "w1", "/m/w1")]


def test_an_event_makes_it_load_what_the_registry_says_not_what_the_event_says() -> None:
    registry, models = FakeRegistry(), FakeModels()
    registry.items = {"support": production("support", "r2", "/store/r2")}
    forged = promoted("support", "r2", "/etc/evil")
    other = promoted("wiki", "w1", "/m/w1")
    f = follower(registry, models, ("support",), consumer=FakeConsumer([forged, b"not json", other]))
    for _ in range(3):
        f._poll_event()
    assert models.switches == [("support", "r2", "/store/r2")]


def test_a_model_that_will_not_load_is_counted_and_tried_again_at_the_next_read() -> None:
    registry, models = FakeRegistry(), FakeModels()
    registry.items = {"support": production("support", "r3", "/m/r3")}
    models.broken = {"r3"}
    errors: list[str] = []
    f = follower(registry, models, on_load_error=errors.append)
    f.sync()
    assert errors == ["support"] and models.switches == []
    models.broken = set()
    f.sync()
    assert models.switches == [("support", "r3", "/m/r3")]


def test_an_unreachable_registry_changes_nothing() -> None:
    registry, models = FakeRegistry(), FakeModels()
    registry.fail = True
    f = follower(registry, models, ("support",))
    f.sync()
    f.sync_one("support")
    assert models.switches == []
