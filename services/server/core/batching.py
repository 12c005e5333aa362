"""Which waiting requests generate together: the oldest one and the requests behind it that sample the
same way (one ``generate`` call has one temperature and top-p), up to the batch size. Pure: the engine
owns the queue and the clock."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, Protocol, TypeVar

# How an engine batches: ``padded`` one generate call per batch of queued requests, ``continuous``
# transformers' continuous batching; ``auto`` picks continuous on CUDA, padded on CPU.
Batching = Literal["auto", "padded", "continuous"]


class Batchable(Protocol):
    @property
    def group(self) -> Hashable: ...


T = TypeVar("T", bound=Batchable)


def take_batch(waiting: Sequence[T], max_size: int) -> tuple[list[T], list[T]]:
    """(the batch, what stays waiting, in order). The oldest request is always in the batch, so no
    request waits behind a stream of others that sample differently."""
    if not waiting:
        return [], []
    group = waiting[0].group
    batch: list[T] = []
    rest: list[T] = []
    for item in waiting:
        (batch if item.group == group and len(batch) < max_size else rest).append(item)
    return batch, rest
