"""Dead letters: the one shape of every message on a dead-letter topic (``raw.dlq``, ``raw.dlq.sanitizer``,
``writer.dlq``, ``evaluator.dlq``) and of the lines ``tuneline sanitize --dlq`` writes.

A dead letter says why (``reason``, a short machine label, and ``detail``, human text that never quotes
a value found in the input), who gave up (``service``), when, and where the input was: its Kafka
coordinates (``source_topic``/``source_partition``/``source_offset``) when it was a Kafka message, or
``where`` (file and byte offset, table and key, URL, line of a file) when it was not. ``key``, ``value``
and ``headers`` hold the original message so that an operator can fix and replay it: bytes that are not
UTF-8 travel as base64, and a value over the size cap is cut (``truncated``, with its full ``size``).

A dead letter can hold the original value, so a dead-letter topic is as protected as the topic the input
came from. The dead letters of unsanitized input (the collector's ``raw.dlq``, the sanitizer's
``raw.dlq.sanitizer``) therefore live under ``raw.``: an access rule on ``sanitized.*`` never reaches raw
text. ``writer.dlq`` holds sanitized records, ``evaluator.dlq`` training events (no record text).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, NonNegativeInt, model_validator

from libs.schemas.records import JsonMap, _Frozen

DEAD_LETTER_SCHEMA_VERSION: Final = 1

Reason = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Short machine label of what went wrong (not_json, oversize, unparseable_line, ...).",
    ),
]
ServiceName = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="The service that gave up on the input.")
]


class Payload(_Frozen):
    """Original bytes (a key, a value): as text when they are UTF-8, else as base64. ``data`` holds the
    first bytes only when ``truncated``; ``size`` is always the length of the whole original."""

    encoding: Literal["utf-8", "base64"]
    data: str
    size: NonNegativeInt = Field(description="Bytes of the original, whole.")
    truncated: bool = Field(default=False, description="True when data holds only the first bytes.")

    @model_validator(mode="after")
    def _consistent(self) -> Payload:
        held = len(self.raw())
        if held > self.size or (held < self.size) != self.truncated:
            raise ValueError(f"{held} bytes held for an original of {self.size} (truncated={self.truncated})")
        return self

    @classmethod
    def of(cls, data: bytes, limit: int | None = None) -> Payload:
        """``data`` (its first ``limit`` bytes at most, cut on a character boundary when it is text)."""
        cut = data if limit is None or len(data) <= limit else data[: max(limit, 0)]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return cls(
                encoding="base64",
                data=base64.b64encode(cut).decode("ascii"),
                size=len(data),
                truncated=len(cut) < len(data),
            )
        # the whole is UTF-8, so only a character split by the cut can be undecodable: at the end
        text = cut.decode("utf-8", errors="ignore")
        return cls(encoding="utf-8", data=text, size=len(data), truncated=len(text.encode()) < len(data))

    def raw(self) -> bytes:
        """The bytes held (the whole original unless ``truncated``)."""
        if self.encoding == "utf-8":
            return self.data.encode("utf-8")
        try:
            return base64.b64decode(self.data, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"data is not base64: {exc}") from None


class DeadLetter(_Frozen):
    """An input a service could not handle, with why and where, so nothing is lost (``*.dlq`` topics)."""

    schema_version: Literal[1] = DEAD_LETTER_SCHEMA_VERSION
    reason: Reason
    detail: str = Field(
        default="", max_length=2000, description="Human text: the field, the limit; never a value found."
    )
    service: ServiceName
    source: str | None = Field(
        default=None, max_length=256, description="The collector source the input belongs to, when known."
    )
    source_topic: str | None = Field(default=None, max_length=249, description="Kafka topic of the input.")
    source_partition: NonNegativeInt | None = None
    source_offset: NonNegativeInt | None = None
    where: JsonMap = Field(
        default_factory=dict,
        description="Where an input that was not a Kafka message came from: path and offset, table, "
        "URL, line of a file, the source's resume position.",
    )
    key: Payload | None = Field(default=None, description="The original Kafka key.")
    value: Payload | None = Field(
        default=None, description="The original value (cut when over the cap); None when left out."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="The original Kafka headers (UTF-8, undecodable bytes replaced)."
    )
    dead_lettered_at: AwareDatetime
