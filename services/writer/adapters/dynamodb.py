"""BatchWriteItem across a small thread pool, retrying unprocessed items, throttling and an unreachable
server with capped, jittered backoff (boto3's own ``batch_writer`` resends unprocessed items at once,
without backoff).

A request DynamoDB refuses for its content (ValidationException: one item it cannot take fails all
25) is split in halves until the refused items are alone (``core.isolate``); those come back as
``WriteStats.rejected`` for the dead-letter topic instead of failing the batch, so one bad record
can no longer stop the writer on every restart. Throttling is retried as it was, never split."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from libs.common.backoff import Backoff
from services.writer.core.errors import BatchWriteFailed
from services.writer.core.isolate import Rejected, isolate_rejected

log = logging.getLogger(__name__)

BATCH_WRITE_LIMIT = 25  # DynamoDB's maximum puts per BatchWriteItem
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Errors that belong to the request's items, not to the service or our access: worth splitting for.
REJECTION_CODES = frozenset({"ValidationException", "SerializationException"})
# The server cannot be reached (stopped, restarting, network): botocore's own retries are spent but the
# batch's budget may not be, so these are retried like throttling instead of stopping the writer.
UNREACHABLE_ERRORS = (BotoConnectionError, HTTPClientError)


def error_code(exc: BaseException) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def is_item_rejection(exc: BaseException) -> bool:
    """DynamoDB refused the items (a value it cannot take), or botocore could not even build the
    request from them (a structure too deep for its serializer, a bad value); never throttling,
    access or a missing table, which would refuse every item alike."""
    if isinstance(exc, ClientError):
        return error_code(exc) in REJECTION_CODES
    return isinstance(exc, ParamValidationError | RecursionError)


def rejection_detail(exc: BaseException) -> str:
    """What the dead letter says: DynamoDB's code and message (they name limits, not values)."""
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class WriteStats:
    items: int = 0
    requests: int = 0
    unprocessed: int = 0  # items DynamoDB handed back and we resent
    throttles: int = 0  # requests refused as a whole
    unreachable: int = 0  # requests that found no server (after botocore's own retries)
    rejections: int = 0  # requests refused for their content (then split)
    rejected: list[Rejected[dict[str, Any]]] = field(default_factory=list)  # items alone refused
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def reject(self, rejected: list[Rejected[dict[str, Any]]]) -> None:
        with self._lock:
            self.rejected.extend(rejected)


class DynamoBatchWriter:
    def __init__(
        self,
        client: Any,
        table: str,
        threads: int = 4,
        max_attempts: int = 15,
        budget_s: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = client
        self._table = table
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dynamo-write")
        self._max_attempts = max_attempts
        self._budget_s = budget_s
        self._backoff = backoff or Backoff()
        self._serialize = TypeSerializer().serialize

    def write(self, items: Sequence[dict[str, Any]]) -> WriteStats:
        """Store every item DynamoDB accepts or raise ``BatchWriteFailed``; items must have distinct
        ids. The items refused on their own are in ``stats.rejected`` (item, error), not stored."""
        stats = WriteStats()
        requests: list[dict[str, Any]] = []
        for item in items:
            try:
                serialized = {k: self._serialize(v) for k, v in item.items()}
            except (TypeError, ValueError, RecursionError) as exc:
                stats.reject([Rejected(item, exc)])
                continue
            requests.append({"PutRequest": {"Item": serialized}, "_item": item})
        chunks = [requests[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(requests), BATCH_WRITE_LIMIT)]
        deadline = time.monotonic() + self._budget_s
        futures = [self._pool.submit(self._store_chunk, chunk, deadline, stats) for chunk in chunks]
        errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            raise BatchWriteFailed(
                f"{len(failed)} of {len(chunks)} chunks not stored: {failed[0]}"
            ) from failed[0]
        stats.add(items=len(items) - len(stats.rejected))
        return stats

    def _store_chunk(self, chunk: list[dict[str, Any]], deadline: float, stats: WriteStats) -> None:
        def write(part: Sequence[dict[str, Any]]) -> None:
            try:
                self._write_chunk([{"PutRequest": r["PutRequest"]} for r in part], deadline, stats)
            except Exception as exc:
                if is_item_rejection(exc):
                    stats.add(rejections=1)
                raise

        refused = isolate_rejected(chunk, write, is_item_rejection)
        stats.reject([Rejected(r.item["_item"], r.error) for r in refused])

    def _write_chunk(self, chunk: list[dict[str, Any]], deadline: float, stats: WriteStats) -> None:
        pending = chunk
        attempt = tries = 0  # answered attempts (bounded by max_attempts), and all of them
        while attempt < self._max_attempts:
            try:
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in THROTTLING_CODES:
                    raise
                stats.add(requests=1, throttles=1)
                attempt += 1
            except UNREACHABLE_ERRORS as exc:
                # Only the budget bounds these: a restarting server may take longer than 15 tries.
                log.warning("DynamoDB unreachable, retrying", extra={"error": str(exc)})
                stats.add(requests=1, unreachable=1)
            else:
                stats.add(requests=1)
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    return
                stats.add(unprocessed=len(pending))
                attempt += 1
            delay = self._backoff.delay(min(tries, 10))
            tries += 1
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        raise BatchWriteFailed(f"{len(pending)} items still unprocessed after {tries} attempts")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
