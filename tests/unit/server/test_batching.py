from __future__ import annotations

from dataclasses import dataclass

from services.server.core.batching import take_batch


@dataclass(frozen=True)
class Item:
    name: str
    group: tuple[float, float]


GREEDY, WARM = (0.0, 1.0), (0.7, 0.9)


def names(items: list[Item]) -> list[str]:
    return [i.name for i in items]


def test_the_oldest_request_and_those_that_sample_like_it_go_together() -> None:
    waiting = [Item("a", WARM), Item("b", GREEDY), Item("c", WARM), Item("d", GREEDY)]
    batch, rest = take_batch(waiting, max_size=8)
    assert names(batch) == ["a", "c"]
    assert names(rest) == ["b", "d"]


def test_the_batch_is_capped_and_the_rest_keeps_its_order() -> None:
    waiting = [Item(str(i), GREEDY) for i in range(5)]
    batch, rest = take_batch(waiting, max_size=2)
    assert names(batch) == ["0", "1"] and names(rest) == ["2", "3", "4"]


def test_nothing_waiting_gives_an_empty_batch() -> None:
    assert take_batch([], 4) == ([], [])
