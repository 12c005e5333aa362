"""The pure side of the per-dataset scheduler lease (item ``lease#<dataset>`` in the state table).

Several trainer replicas may run the scheduler; only the lease holder may start a threshold run for
its dataset. The adapter never writes what it read earlier (a replica can pause between its read and
its write, and the lease change hands meanwhile); it uses two conditional UpdateItems whose conditions
are the functions here, evaluated by DynamoDB on the stored item:

- take or renew (``can_take``): ``attribute_not_exists(pk) OR owner = :me OR expires_at_ms <= :now``,
  ``SET owner, expires_at_ms`` (``taken``): a ``run_id`` already recorded stays, so a new holder
  inherits the run instead of starting another;
- record the run it is about to start (``can_record_run``):
  ``owner = :me AND expires_at_ms > :now AND attribute_not_exists(run_id)``.

Expiry uses wall-clock milliseconds: keep ``ttl_s`` well above the clock skew between replicas.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    dataset: str
    owner: str
    expires_at_ms: int
    run_id: str | None = None

    def expired(self, now_ms: int) -> bool:
        return now_ms >= self.expires_at_ms


def lease_expiry(now_ms: int, ttl_s: float) -> int:
    """When a lease taken or renewed at ``now_ms`` expires."""
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    return now_ms + round(ttl_s * 1000)


def can_take(current: Lease | None, me: str, now_ms: int) -> bool:
    """Whether ``me`` may take or renew the lease: it is free, expired (its owner died), or mine."""
    return current is None or current.owner == me or current.expired(now_ms)


def taken(current: Lease | None, dataset: str, me: str, now_ms: int, ttl_s: float) -> Lease:
    """The stored lease after ``me`` took or renewed it (only when ``can_take``)."""
    run_id = current.run_id if current is not None else None
    return Lease(dataset=dataset, owner=me, expires_at_ms=lease_expiry(now_ms, ttl_s), run_id=run_id)


def can_record_run(current: Lease | None, me: str, now_ms: int) -> bool:
    """Whether ``me`` may record a new run in the lease, and so start it: a live lease of mine that
    records no run yet. Once a run is recorded, no holder starts another until it is cleared."""
    return (
        current is not None and current.owner == me and not current.expired(now_ms) and current.run_id is None
    )


def renew_due(lease: Lease, now_ms: int, ttl_s: float) -> bool:
    """Renew once less than half the ttl is left, so one missed tick never loses the lease."""
    return lease.expires_at_ms - now_ms < ttl_s * 1000 / 2
