"""Finding the records that make a write fail, by splitting the write in halves. No I/O: the write is a
function the caller passes.

DynamoDB refuses a whole BatchWriteItem request when one of its items is invalid (ValidationException),
without saying which. Writing the two halves separately, and halving again whatever still fails, ends
with every bad record alone in a request of its own and every good one stored: for one bad record in
``n`` that is ``1 + 2 * ceil(log2(n))`` writes at most (11 for a chunk of 25).

Only a rejection of the items themselves splits (``is_rejection``); any other error (throttling that
outlived its retries, access denied, a missing table) propagates at once, since every half would fail
the same way and splitting would only dead-letter good records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Rejected(Generic[T]):
    """One record the store refused on its own, and the error it refused it with."""

    item: T
    error: BaseException


def isolate_rejected(
    items: Sequence[T],
    write: Callable[[Sequence[T]], None],
    is_rejection: Callable[[BaseException], bool],
) -> list[Rejected[T]]:
    """Write ``items``; when the store rejects them, split in halves and write each, recursively,
    until each rejected item is alone. Returns the rejected items in their input order (the rest are
    written); re-raises any error ``is_rejection`` does not accept. Iterative, depth first, left half
    first, so the writes happen in a fixed order."""
    rejected: list[Rejected[T]] = []
    pending: list[Sequence[T]] = [items] if items else []
    while pending:
        part = pending.pop()
        try:
            write(part)
        except Exception as exc:
            if not is_rejection(exc):
                raise
            if len(part) == 1:
                rejected.append(Rejected(part[0], exc))
            else:
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]  # the left half is popped first
    return rejected


def max_writes(n: int, bad: int = 1) -> int:
    """The most writes ``isolate_rejected`` makes for ``bad`` rejected items among ``n`` (a bound
    for tests and for sizing the retry budget): each bad item costs at most two writes per halving."""
    if n <= 0:
        return 0
    if bad <= 0:
        return 1
    return min(2 * n - 1, 1 + 2 * bad * (n - 1).bit_length())
