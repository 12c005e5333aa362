"""The sanitizer's errors: one root, a subclass per way a record or the configuration can fail."""

from __future__ import annotations


class SanitizerError(Exception):
    """Root of the sanitizer's errors."""


class PolicyError(SanitizerError):
    """The policy file (datasets, field policies, operators) is missing or invalid."""


class RecordRejected(SanitizerError):
    """A message that can never become a record (not JSON, schema-invalid, oversize): it goes to
    ``raw.dlq.sanitizer`` with ``reason`` (a short machine label) and ``detail`` (never a found value)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
