"""What a source hands to the publisher: encoded records and rejections, each with its position.

A position is ``(partition, offset)`` inside the source, as Kafka Connect keeps source offsets:
a SQL source has one partition (its cursor), a log source one per file fingerprint, an HTTP source
one per endpoint. The offset is the place to resume from *after* this item, so a checkpoint made of
the positions of acknowledged items resumes exactly behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from pydantic import JsonValue

Position: TypeAlias = tuple[str, JsonValue]
Checkpoint: TypeAlias = dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class Emit:
    """A record ready for ``raw.<source>``: ``value`` is the encoded ``RawRecord``."""

    key: str
    value: bytes
    position: Position


@dataclass(frozen=True, slots=True)
class Reject:
    """An input that cannot become a record; it goes to ``raw.dlq`` with the reason and where it was."""

    reason: str
    detail: str
    position: Position
    where: dict[str, JsonValue] = field(default_factory=dict)
    original: bytes = b""


Item: TypeAlias = Emit | Reject
