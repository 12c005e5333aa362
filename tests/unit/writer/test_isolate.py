"""Splitting a refused write until each refused record is alone (``core.isolate``) and the batch
writer that uses it, against a fake client: no I/O."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from libs.common.backoff import Backoff
from services.writer.adapters.dynamodb import DynamoBatchWriter, is_item_rejection
from services.writer.core.errors import BatchWriteFailed
from services.writer.core.isolate import isolate_rejected, max_writes


class Refused(Exception):
    pass


class Store:
    """Writes lists of ints; refuses a whole write that holds one of ``bad``."""

    def __init__(self, bad: set[int], error: type[Exception] = Refused) -> None:
        self.bad, self.error = bad, error
        self.writes: list[list[int]] = []
        self.stored: list[int] = []

    def write(self, part: Sequence[int]) -> None:
        self.writes.append(list(part))
        if self.bad & set(part):
            raise self.error("refused")
        self.stored += part


def refused(exc: BaseException) -> bool:
    return isinstance(exc, Refused)


def test_a_write_nothing_refuses_is_one_write() -> None:
    store = Store(bad=set())
    assert isolate_rejected(list(range(25)), store.write, refused) == []
    assert store.writes == [list(range(25))]
    assert isolate_rejected([], store.write, refused) == [] and len(store.writes) == 1


def test_one_bad_record_in_25_is_isolated_in_at_most_11_writes_wherever_it_is() -> None:
    for bad in range(25):
        store = Store(bad={bad})
        result = isolate_rejected(list(range(25)), store.write, refused)
        assert [r.item for r in result] == [bad] and isinstance(result[0].error, Refused)
        assert sorted(store.stored) == [i for i in range(25) if i != bad]  # each good one once
        assert len(store.writes) <= max_writes(25) == 11
        assert len([w for w in store.writes if bad in w]) <= 6  # 25, 13, 7, 4, 2, 1


def test_the_halving_order_for_the_13th_record_of_25() -> None:
    store = Store(bad={12})
    isolate_rejected(list(range(25)), store.write, refused)
    # depth first, left half first: 25 -> 12 (stored) + 13 -> 6 -> 3 -> [12] alone, then the rest
    assert [len(w) for w in store.writes] == [25, 12, 13, 6, 3, 1, 2, 3, 7]
    assert store.writes[5] == [12]


def test_several_bad_records_are_each_isolated_and_returned_in_order() -> None:
    store = Store(bad={3, 4, 20})
    result = isolate_rejected(list(range(25)), store.write, refused)
    assert [r.item for r in result] == [3, 4, 20]
    assert sorted(store.stored) == [i for i in range(25) if i not in {3, 4, 20}]
    assert len(store.writes) <= max_writes(25, bad=3)
    every_one_bad = Store(bad=set(range(8)))
    assert len(isolate_rejected(list(range(8)), every_one_bad.write, refused)) == 8
    assert len(every_one_bad.writes) == max_writes(8, bad=8) == 15  # the whole tree, never more


def test_an_error_that_is_not_a_rejection_is_raised_without_splitting() -> None:
    store = Store(bad={5}, error=ConnectionError)
    with pytest.raises(ConnectionError):
        isolate_rejected(list(range(25)), store.write, refused)
    assert store.writes == [list(range(25))]


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} injected"}}, "BatchWriteItem")


class FakeDynamo:
    """BatchWriteItem as DynamoDB answers it: ValidationException for a whole request holding a bad
    id, ThrottlingException for the first ``throttle`` requests, ``error`` for every request."""

    def __init__(self, bad: set[str] = frozenset(), throttle: int = 0, error: str = "") -> None:  # type: ignore[assignment]
        self.bad, self.throttle, self.error = bad, throttle, error
        self.lock = threading.Lock()
        self.requests: list[list[str]] = []
        self.stored: list[str] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((_, requests),) = RequestItems.items()
        ids = [r["PutRequest"]["Item"]["id"]["S"] for r in requests]
        with self.lock:
            self.requests.append(ids)
            throttled = len(self.requests) <= self.throttle
        if self.error:
            raise client_error(self.error)
        if throttled:
            raise client_error("ThrottlingException")
        if self.bad & set(ids):
            raise client_error("ValidationException")
        with self.lock:
            self.stored += ids
        return {"UnprocessedItems": {}}


def writer(client: FakeDynamo) -> DynamoBatchWriter:
    return DynamoBatchWriter(client, "records", threads=2, budget_s=5, backoff=Backoff(0.001, 0.002))


def items(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i:02d}", "fields": {"n": i}} for i in range(n)]


def test_the_writer_stores_the_good_items_and_hands_back_the_refused_one() -> None:
    client = FakeDynamo(bad={"r37"})
    batch_writer = writer(client)
    stats = batch_writer.write(items(100))
    batch_writer.close()
    assert [r.item["id"] for r in stats.rejected] == ["r37"]
    assert "ValidationException" in str(stats.rejected[0].error)
    assert sorted(client.stored) == [f"r{i:02d}" for i in range(100) if i != 37]  # each once
    assert stats.items == 99
    # 3 clean chunks of 25 in one request each; the bad chunk: 25, 12, 13, 6, 3, 1, 2, 3, 7
    assert len(client.requests) == 3 + 9 and stats.rejections == 5


def test_throttling_is_retried_never_split() -> None:
    client = FakeDynamo(throttle=3)
    batch_writer = writer(client)
    stats = batch_writer.write(items(25))
    batch_writer.close()
    assert [len(r) for r in client.requests] == [25, 25, 25, 25]
    assert stats.throttles == 3 and stats.rejected == [] and stats.rejections == 0


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_an_error_of_the_service_or_access_fails_the_batch_without_splitting(code: str) -> None:
    client = FakeDynamo(error=code)
    batch_writer = writer(client)
    with pytest.raises(BatchWriteFailed, match=code):
        batch_writer.write(items(25))
    batch_writer.close()
    assert len(client.requests) == 1  # nothing dead-lettered for what is not the records' fault


def test_what_counts_as_a_rejection_of_the_items() -> None:
    assert is_item_rejection(client_error("ValidationException"))
    assert is_item_rejection(RecursionError("maximum recursion depth exceeded"))
    for code in ("ThrottlingException", "ProvisionedThroughputExceededException", "AccessDeniedException"):
        assert not is_item_rejection(client_error(code))
    assert not is_item_rejection(ConnectionError("refused"))


def test_an_item_that_cannot_even_be_serialized_is_refused_alone() -> None:
    client = FakeDynamo()
    batch_writer = writer(client)
    stats = batch_writer.write([*items(3), {"id": "odd", "value": object()}])
    batch_writer.close()
    assert [r.item["id"] for r in stats.rejected] == ["odd"]
    assert sorted(client.stored) == ["r00", "r01", "r02"]


class UnreachableDynamo(FakeDynamo):
    """A server that does not answer the first ``away`` requests (stopped, restarting)."""

    def __init__(self, away: int) -> None:
        super().__init__()
        self.away = away

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        with self.lock:
            self.away -= 1
            gone = self.away >= 0
        if gone:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return super().batch_write_item(RequestItems)


def test_an_unreachable_server_is_waited_out_beyond_the_attempt_limit_within_the_budget() -> None:
    # More refused connections than the 15 answered attempts a chunk may use: only the budget bounds them.
    client = UnreachableDynamo(away=20)
    batch_writer = writer(client)
    stats = batch_writer.write(items(25))
    batch_writer.close()
    assert sorted(client.stored) == [f"r{i:02d}" for i in range(25)]
    assert stats.unreachable == 20 and stats.rejected == [] and stats.rejections == 0


def test_a_server_away_for_longer_than_the_budget_fails_the_batch_without_dead_letters() -> None:
    client = UnreachableDynamo(away=10**6)
    batch_writer = DynamoBatchWriter(client, "records", threads=1, budget_s=0.2, backoff=Backoff(0.01, 0.02))
    with pytest.raises(BatchWriteFailed):
        batch_writer.write(items(25))
    batch_writer.close()
    assert client.stored == []
