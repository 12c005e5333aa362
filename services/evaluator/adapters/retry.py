"""Transient S3 and DynamoDB errors are retried with backoff before an event is dead-lettered.

botocore's standard retry mode already retries one call a few times within seconds; this covers longer
trouble (a throttled table for a minute, an S3 endpoint restarting) around each of the worker's steps.
Every step it wraps is idempotent, so running one twice is safe. A permanent error (access denied, no
such key, a broken model) is raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from libs.common.backoff import Backoff
from services.evaluator import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
    }
)


class RetryStep(Protocol):
    def __call__(self, operation: str, step: Callable[[], T]) -> T: ...


class _Once:
    def __call__(self, operation: str, step: Callable[[], T]) -> T:
        return step()


NO_RETRY: Final = _Once()  # ``tuneline evaluate`` by hand: an operator sees the error at once


class TransientFailure(RuntimeError):
    """A step still failed transiently after every attempt."""


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection errors of botocore (the cause of a boto3 transfer error
    included); anything else is permanent."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | HTTPClientError | RetriesExceededError):
            return True
        if isinstance(current, ClientError):
            error = current.response.get("Error", {})
            status = int(current.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            return error.get("Code") in TRANSIENT_CODES or status >= 500 or status == 429
        current = current.__cause__ or current.__context__
    return isinstance(exc, S3UploadFailedError)  # boto3 gave no cause: more likely the network than us


@dataclass
class Retry:
    """Call a step until it succeeds, fails permanently, or ``attempts`` transient failures in a row
    (then ``TransientFailure``)."""

    attempts: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, cap_s=30.0))
    sleep: Callable[[float], None] = time.sleep

    def __call__(self, operation: str, step: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return step()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt + 1 >= self.attempts:
                    raise TransientFailure(
                        f"{operation} failed {self.attempts} times: {type(exc).__name__}: {exc}"
                    ) from exc
                delay = self.backoff.delay(attempt)
                metrics.RETRIES.labels(operation).inc()
                log.warning(
                    "transient error; retrying",
                    extra={"operation": operation, "error": f"{type(exc).__name__}: {exc}", "delay_s": delay},
                )
                self.sleep(delay)
        raise AssertionError("unreachable")
