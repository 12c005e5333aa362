from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import pytest

from services.trainer.core.lease import Lease, can_record_run, can_take, lease_expiry, renew_due, taken

DATASET = "support"
TTL_S = 10.0
TTL_MS = 10_000


def test_expiry_is_now_plus_ttl() -> None:
    assert lease_expiry(1_000, 2.5) == 3_500
    with pytest.raises(ValueError, match="ttl_s"):
        lease_expiry(1_000, 0)


@pytest.mark.parametrize(
    ("current", "me", "expected"),
    [
        (None, "a", True),  # free
        (Lease(DATASET, "a", 5_000), "a", True),  # mine
        (Lease(DATASET, "b", 5_000), "a", False),  # someone else's, live
        (Lease(DATASET, "b", 1_000), "a", True),  # expired exactly now: its owner is gone
        (Lease(DATASET, "b", 999), "a", True),
    ],
)
def test_can_take(current: Lease | None, me: str, expected: bool) -> None:
    assert can_take(current, me, now_ms=1_000) is expected


def test_renewal_is_due_once_less_than_half_the_ttl_is_left() -> None:
    lease = Lease(DATASET, "a", lease_expiry(0, TTL_S))
    assert not renew_due(lease, now_ms=TTL_MS // 2, ttl_s=TTL_S)  # exactly half left
    assert renew_due(lease, now_ms=TTL_MS // 2 + 1, ttl_s=TTL_S)
    assert not renew_due(lease, now_ms=0, ttl_s=TTL_S)


def test_taking_a_lease_keeps_the_run_it_records() -> None:
    dead = Lease(DATASET, "a", 1_000, run_id="run-1")
    assert taken(dead, DATASET, "b", 1_000, TTL_S) == Lease(DATASET, "b", 1_000 + TTL_MS, "run-1")
    assert taken(None, DATASET, "b", 0, TTL_S) == Lease(DATASET, "b", TTL_MS, None)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (Lease(DATASET, "a", 5_000), True),
        (None, False),
        (Lease(DATASET, "b", 5_000), False),  # not mine
        (Lease(DATASET, "a", 1_000), False),  # mine but expired: take it again first
        (Lease(DATASET, "a", 5_000, run_id="run-1"), False),  # a run is already recorded
    ],
)
def test_can_record_run(current: Lease | None, expected: bool) -> None:
    assert can_record_run(current, "a", now_ms=1_000) is expected


# --- two schedulers, one run -------------------------------------------------------------------------


@dataclass
class FakeStateTable:
    """DynamoDB's UpdateItem with a ConditionExpression and ReturnValues=ALL_NEW, in memory: the
    condition is checked against the stored item and the change applied in one atomic step, or nothing
    is written (ConditionalCheckFailedException, here None)."""

    leases: dict[str, Lease] = field(default_factory=dict)

    def get(self, dataset: str) -> Lease | None:
        return self.leases.get(dataset)

    def update_if(
        self,
        dataset: str,
        condition: Callable[[Lease | None], bool],
        change: Callable[[Lease | None], Lease],
    ) -> Lease | None:
        stored = self.leases.get(dataset)
        if not condition(stored):
            return None
        self.leases[dataset] = change(stored)
        return self.leases[dataset]


@dataclass
class World:
    table: FakeStateTable = field(default_factory=FakeStateTable)
    now_ms: int = 0
    started: list[tuple[str, str]] = field(default_factory=list)  # (owner, run_id)


def recording(run_id: str) -> Callable[[Lease | None], Lease]:
    def change(stored: Lease | None) -> Lease:
        assert stored is not None  # only applied where can_record_run held
        return replace(stored, run_id=run_id)

    return change


def tick(world: World, me: str) -> Iterator[None]:
    """One scheduler tick with the threshold reached, as the adapter does it. It yields wherever a real
    replica could be paused (between two calls to the table), so the driver interleaves replicas there."""
    current = world.table.get(DATASET)
    yield
    now = world.now_ms
    if not can_take(current, me, now):
        return
    if current is None or current.owner != me or renew_due(current, now, TTL_S):
        current = world.table.update_if(
            DATASET,
            lambda stored: can_take(stored, me, now),
            lambda stored: taken(stored, DATASET, me, now, TTL_S),
        )
        yield
        if current is None:
            return
    if current.run_id is None:  # record the run in the lease first; start it only if that held
        run_id = f"{DATASET}-{me}-{len(world.started)}"
        now = world.now_ms
        recorded = world.table.update_if(
            DATASET,
            lambda stored: can_record_run(stored, me, now),
            recording(run_id),
        )
        yield
        if recorded is not None:
            world.started.append((me, run_id))


def run_to_end(world: World, me: str) -> None:
    for _ in tick(world, me):
        pass


def scheduler(world: World, me: str, ticks: int) -> Iterator[None]:
    for _ in range(ticks):
        yield from tick(world, me)
        yield


def draws(rng: random.Random, values: list[int]) -> Iterator[int]:
    while True:
        yield rng.choice(values)


def run_schedule(choices: Iterator[int], step_ms: Iterator[int], ticks: int) -> World:
    """Advance the replica picked by each choice one step (the other one when it has finished)."""
    world = World()
    replicas = [scheduler(world, "a", ticks), scheduler(world, "b", ticks)]
    while replicas:
        pick = next(choices, 0) % len(replicas)
        try:
            next(replicas[pick])
        except StopIteration:
            del replicas[pick]
        world.now_ms += next(step_ms)
    return world


def test_two_schedulers_start_one_run_under_every_interleaving() -> None:
    for choices in itertools.product((0, 1), repeat=14):
        world = run_schedule(iter(choices), itertools.repeat(100), ticks=2)
        assert len(world.started) == 1, choices
        _, run_id = world.started[0]
        assert world.table.leases[DATASET].run_id == run_id


def test_one_run_even_when_replicas_pause_past_the_lease_expiry() -> None:
    # Pauses longer than the ttl (GC, a slow network) let the lease change hands between a replica's
    # read and its write: the conditions on the stored item, not the read, must keep a second run out.
    for seed in range(2_000):
        rng = random.Random(seed)
        choices = draws(rng, [0, 1])
        pauses = draws(rng, [0, 50, 3_000, 2 * TTL_MS])
        world = run_schedule(choices, pauses, ticks=4)
        assert len(world.started) <= 1, seed
        run_to_end(world, "a")  # calm ticks afterwards: a run has started, and still only one
        run_to_end(world, "b")
        assert len(world.started) == 1, seed


def test_a_replica_waking_from_a_pause_does_not_start_a_run_over_anothers() -> None:
    world = World()
    run_to_end(world, "a")  # "a" holds the lease and recorded its run
    world.table.leases[DATASET] = replace(world.table.leases[DATASET], run_id=None)  # that run is cleared
    paused = tick(world, "a")
    next(paused)  # "a" reads its own lease, run-free, and pauses past its expiry
    world.now_ms += 2 * TTL_MS
    run_to_end(world, "b")  # "b" takes the expired lease and starts a run
    assert world.started[-1][0] == "b"
    world.now_ms += 2 * TTL_MS  # "b" pauses too: its lease has expired when "a" wakes up
    for _ in paused:
        pass
    # "a" re-took the expired lease, and with it the run "b" recorded: it started nothing from its stale read
    assert [owner for owner, _ in world.started] == ["a", "b"]
    held = world.table.leases[DATASET]
    assert (held.owner, held.run_id) == ("a", world.started[-1][1])


def test_renewals_keep_the_lease_and_a_dead_owners_lease_is_taken_over() -> None:
    world = World()
    for _ in range(30):  # "a" ticks every third of the ttl for ten ttls; "b" tries every time
        run_to_end(world, "a")
        run_to_end(world, "b")
        world.now_ms += TTL_MS // 3
    lease = world.table.leases[DATASET]
    assert lease.owner == "a"
    assert lease.expires_at_ms > world.now_ms
    assert [owner for owner, _ in world.started] == ["a"]

    world.now_ms = lease.expires_at_ms - 1  # "a" died; "b" must wait for the lease to expire
    run_to_end(world, "b")
    assert world.table.leases[DATASET].owner == "a"

    world.now_ms = lease.expires_at_ms
    run_to_end(world, "b")
    now_held = world.table.leases[DATASET]
    assert now_held.owner == "b"
    assert now_held.run_id == lease.run_id  # the run "a" started is inherited, not started again
    assert len(world.started) == 1
