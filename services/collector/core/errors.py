"""The collector's errors: one root, a few meaningful kinds."""

from __future__ import annotations


class CollectorError(Exception):
    """Root of the collector's errors."""


class ConfigError(CollectorError):
    """The sources file is invalid; the message names the source and the field."""


class SourceUnavailable(CollectorError):
    """A source cannot be read right now (database down, API failing); the runner retries it."""


class ConversionError(CollectorError):
    """A value cannot be turned into JSON (the record goes to the dead-letter topic)."""
