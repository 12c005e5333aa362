"""Errors raised by the schema helpers: one root, one subclass per failure a caller handles."""

from __future__ import annotations


class SchemaError(Exception):
    """Root of every error raised by ``libs.schemas``."""


class SchemaDecodeError(SchemaError):
    """Bytes could not be turned into a model.

    ``field`` is the dotted path of the first offending field (``fields.price``), ``<json>`` when
    the bytes are not JSON at all and ``<root>`` when the document is not an object. Callers route
    the record to a dead-letter topic with ``str(error)`` as the reason.
    """

    def __init__(self, model: str, field: str, reason: str, error_count: int = 1) -> None:
        self.model = model
        self.field = field
        self.reason = reason
        self.error_count = error_count
        more = f" (and {error_count - 1} more)" if error_count > 1 else ""
        super().__init__(f"{model}.{field}: {reason}{more}")


class SchemaEncodeError(SchemaError):
    """A model could not be serialized (a value outside JSON slipped into a free-form map)."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"{model}: cannot encode: {reason}")
