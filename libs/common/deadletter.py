"""The one way to dead-letter an input: build a ``DeadLetter`` and the Kafka message that carries it.

``dead_letter_message`` returns ``(key, value, headers)`` ready for any producer (the sanitizer sends
it through a Faust topic); ``DeadLetterPublisher`` produces it through a confluent-kafka producer it is
given (collector, writer, evaluator). Either way the message:

- is keyed by the original key (a key over ``MAX_KEY_BYTES`` is left off the message, kept in the body),
  else by ``fallback_key`` (the collector's source name);
- has the headers ``reason``, ``service`` and, when known, ``source`` and ``source_topic``, so a
  consumer can filter without parsing the body;
- stays under ``max_bytes`` in all: the original value is cut (``value.truncated``) until it fits,
  JSON escapes included, so a broker with default limits never refuses a dead letter for its size.

The detail is capped, and logged with the reason and the coordinates, never the value.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from libs.schemas.codec import encode
from libs.schemas.deadletter import DeadLetter, Payload
from libs.schemas.records import JsonMap

log = logging.getLogger(__name__)

# Far below Kafka's default message limit (~1 MB) and Faust's producer_max_request_size.
MAX_DEAD_LETTER_BYTES: Final = 512 * 1024
MAX_KEY_BYTES: Final = 1024  # a longer original key is cut in the body and left off the message
MAX_DETAIL_CHARS: Final = 2000
MAX_HEADER_CHARS: Final = 1024  # per original header value kept in the body
MAX_HEADERS: Final = 32

HeaderInput = Mapping[str, bytes | str | None] | list[tuple[str, bytes | str | None]] | None


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    """A dead letter and the Kafka message that carries it."""

    letter: DeadLetter
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def header_list(self) -> list[tuple[str, bytes]]:
        return list(self.headers.items())


def dead_letter_message(
    *,
    service: str,
    reason: str,
    detail: str = "",
    value: bytes | None = None,
    key: bytes | None = None,
    headers: HeaderInput = None,
    source: str | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    where: JsonMap | None = None,
    fallback_key: bytes | None = None,
    keep_value: bool = True,
    max_bytes: int = MAX_DEAD_LETTER_BYTES,
    now: dt.datetime | None = None,
) -> DeadLetterMessage:
    """Build the dead letter of one input and its message (see the module docstring).

    ``keep_value=False`` leaves the original value out (``value`` is None in the body): for a
    dead-letter topic less protected than the input's. ``value=None`` means there was no value at all.
    """
    reason, service = _label(reason, "unknown"), _label(service, "unknown")
    key_payload = Payload.of(key, MAX_KEY_BYTES) if key else None
    message_key = key if key and len(key) <= MAX_KEY_BYTES else fallback_key
    out_headers = {"reason": reason.encode(), "service": service.encode()}
    if source:
        out_headers["source"] = source.encode()
    if topic:
        out_headers["source_topic"] = topic.encode()
    fields: dict[str, Any] = {
        "reason": reason,
        "detail": detail[:MAX_DETAIL_CHARS],
        "service": service,
        "source": source,
        "source_topic": topic,
        "source_partition": partition if partition is not None and partition >= 0 else None,
        "source_offset": offset if offset is not None and offset >= 0 else None,
        "where": where or {},
        "key": key_payload,
        "headers": _original_headers(headers),
        "dead_lettered_at": now or dt.datetime.now(dt.UTC),
    }
    overhead = len(message_key or b"") + sum(len(k) + len(v) for k, v in out_headers.items())
    budget = max_bytes - overhead
    if value is None or not keep_value:
        letter = DeadLetter(**fields, value=None)
        return DeadLetterMessage(letter, message_key, _fitting(encode(letter), budget), out_headers)
    limit = min(len(value), budget)  # the body holds at least one byte per byte kept
    while True:
        letter = DeadLetter(**fields, value=Payload.of(value, limit))
        body = encode(letter)
        if len(body) <= budget or limit == 0:
            return DeadLetterMessage(letter, message_key, _fitting(body, budget), out_headers)
        # JSON escapes and base64 make the value's share of the body bigger than the bytes it holds:
        # shrink the bytes kept in proportion, with a margin, until the whole fits
        held = len(encode(letter.value)) if letter.value else 0
        room = budget - (len(body) - held)
        limit = max(0, min(limit - 1, int(limit * room / max(held, 1)) - 64))


class NotReplayable(ValueError):
    """A dead letter that does not hold its whole original Kafka message."""


def original_message(letter: DeadLetter) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]:
    """``(topic, key, value, headers)`` of the message that was dead-lettered, to produce again once
    the cause is fixed. Raises ``NotReplayable`` for an input that was not a Kafka message (a collector
    reject: fix it at the source) or whose value or key was cut or left out."""
    if letter.source_topic is None:
        raise NotReplayable(f"{letter.reason}: not a Kafka message ({letter.where or 'no origin'})")
    if letter.value is None or letter.value.truncated:
        raise NotReplayable(
            f"{letter.reason}: the original value was {'cut' if letter.value else 'left out'}"
        )
    if letter.key is not None and letter.key.truncated:
        raise NotReplayable(f"{letter.reason}: the original key was cut")
    key = letter.key.raw() if letter.key is not None else None
    headers = [(name, text.encode()) for name, text in letter.headers.items()]
    return letter.source_topic, key, letter.value.raw(), headers


_NOT_LABEL = re.compile(r"[^a-z0-9_]+")


def _label(text: str, default: str) -> str:
    """A reason or service as the schema's label (callers pass constants; this only keeps a surprising
    one from failing the dead letter itself)."""
    label = _NOT_LABEL.sub("_", text.lower()).strip("_")[:64]
    return label if label[:1].isalpha() else default


def _fitting(body: bytes, budget: int) -> bytes:
    if len(body) > budget:  # only a huge detail, key or header set can do this: a bug, not an input
        raise ValueError(f"dead letter of {len(body)} bytes does not fit in {budget}")
    return body


def _original_headers(headers: HeaderInput) -> dict[str, str]:
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    kept: dict[str, str] = {}
    for name, raw in list(items)[:MAX_HEADERS]:
        if raw is None:
            text = ""
        elif isinstance(raw, str):
            text = raw
        else:
            text = bytes(raw).decode("utf-8", errors="replace")
        kept[name[:256]] = text[:MAX_HEADER_CHARS]
    return kept


OnDelivery = Callable[[Any, Any], None]


class DeadLetterPublisher:
    """Produces dead letters to ``topic`` through a confluent-kafka ``Producer`` it is given (never one
    of its own: the service builds its producer with the shared client settings). Delivery is the
    caller's business: pass ``on_delivery``, or ``flush`` the producer before committing the input."""

    def __init__(self, producer: Any, topic: str, service: str, *, keep_value: bool = True) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service
        self.keep_value = keep_value

    def publish(
        self, reason: str, detail: str = "", *, on_delivery: OnDelivery | None = None, **origin: Any
    ) -> DeadLetterMessage:
        """Dead-letter one input; ``origin`` is ``dead_letter_message``'s keyword arguments (value, key,
        headers, source, topic, partition, offset, where, fallback_key). Returns what was sent."""
        origin.setdefault("keep_value", self.keep_value)
        message = dead_letter_message(service=self.service, reason=reason, detail=detail, **origin)
        self.send(message, on_delivery)
        return message

    def publish_kafka_message(
        self, msg: Any, reason: str, detail: str = "", *, on_delivery: OnDelivery | None = None
    ) -> DeadLetterMessage:
        """Dead-letter a consumed confluent-kafka ``Message`` (key, value, headers and coordinates)."""
        return self.publish(
            reason,
            detail,
            on_delivery=on_delivery,
            value=msg.value() or b"",
            key=msg.key(),
            headers=msg.headers(),
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
        )

    def send(self, message: DeadLetterMessage, on_delivery: OnDelivery | None = None) -> None:
        kwargs: dict[str, Any] = {"key": message.key, "headers": message.header_list()}
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        while True:
            try:
                self.producer.produce(self.topic, message.value, **kwargs)
                break
            except BufferError:  # the producer queue is full: let it drain, then try again
                self.producer.poll(0.1)
        log_dead_letter(message.letter)


def log_dead_letter(letter: DeadLetter) -> None:
    """One log line per dead letter: why and where, never the value."""
    log.warning(
        "input sent to the dead-letter topic",
        extra={
            "service": letter.service,
            "reason": letter.reason,
            "detail": letter.detail,
            "source": letter.source,
            "topic": letter.source_topic,
            "partition": letter.source_partition,
            "offset": letter.source_offset,
            "where": letter.where,
        },
    )
