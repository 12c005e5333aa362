"""The writer's errors: one root, a subclass per way a record or a batch can fail."""

from __future__ import annotations


class WriterError(Exception):
    """Root of the writer's errors."""


class UnstorableRecord(WriterError):
    """A record that can never be stored as an item (too large even compressed, bad value):
    it goes to ``writer.dlq`` with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BatchWriteFailed(WriterError):
    """A batch still failed after its retry budget; nothing after it may be committed."""
