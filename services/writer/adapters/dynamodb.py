"""BatchWriteItem across a small thread pool, retrying unprocessed items and throttling with capped,
jittered backoff (boto3's own ``batch_writer`` resends unprocessed items at once, without backoff)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from libs.common.backoff import Backoff
from services.writer.core.errors import BatchWriteFailed

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


@dataclass
class WriteStats:
    items: int = 0
    requests: int = 0
    unprocessed: int = 0  # items DynamoDB handed back and we resent
    throttles: int = 0  # requests refused as a whole
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


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
        """Store every item or raise ``BatchWriteFailed``; items must have distinct ids."""
        stats = WriteStats()
        requests = [
            {"PutRequest": {"Item": {k: self._serialize(v) for k, v in item.items()}}} for item in items
        ]
        chunks = [requests[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(requests), BATCH_WRITE_LIMIT)]
        deadline = time.monotonic() + self._budget_s
        futures = [self._pool.submit(self._write_chunk, chunk, deadline, stats) for chunk in chunks]
        errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            raise BatchWriteFailed(
                f"{len(failed)} of {len(chunks)} chunks not stored: {failed[0]}"
            ) from failed[0]
        stats.add(items=len(items))
        return stats

    def _write_chunk(self, chunk: list[dict[str, Any]], deadline: float, stats: WriteStats) -> None:
        pending = chunk
        for attempt in range(self._max_attempts):
            try:
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in THROTTLING_CODES:
                    raise
                stats.add(requests=1, throttles=1)
            else:
                stats.add(requests=1)
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    return
                stats.add(unprocessed=len(pending))
            delay = self._backoff.delay(attempt)
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        raise BatchWriteFailed(f"{len(pending)} items still unprocessed after {attempt + 1} attempts")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
