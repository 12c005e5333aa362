"""The writer's errors: one root, a subclass per way a record or a batch can fail."""

from __future__ import annotations


class WriterError(Exception):
    """Root of the writer's errors."""


class BatchWriteFailed(WriterError):
    """A batch still failed after its retry budget; nothing after it may be committed."""
