"""The one interface every source implements (SQL, log files, HTTP APIs), and the settings they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.schemas.records import SourceName
from services.collector.core.items import Checkpoint, Item
from services.collector.core.template import template_fields


class Source(Protocol):
    """A source is opened at a checkpoint, then polled: each ``poll()`` yields everything new since
    the previous one (records and rejections, in order, each with its position) and returns when it
    has caught up. An error from ``poll()`` means the source is unavailable; the runner backs off,
    reopens it at the last checkpoint and tries again."""

    name: str

    def open(self, checkpoint: Checkpoint) -> None: ...

    def poll(self) -> Iterator[Item]: ...

    def close(self) -> None: ...


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SourceBase(_Config):
    name: SourceName
    poll_interval_s: float = Field(default=5.0, gt=0, description="Pause between two passes.")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of raw.<name> when created.")
    max_record_bytes: int = Field(default=1_000_000, ge=1024, description="Larger records go to raw.dlq.")
    content_template: str | None = Field(
        default=None, description='Text to learn from, e.g. "{subject}\\n{body}"; default: name: value lines.'
    )

    @model_validator(mode="after")
    def _template_parses(self) -> SourceBase:
        if self.content_template is not None:
            template_fields(self.content_template)
        return self
