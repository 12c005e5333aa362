"""Kafka topic and DynamoDB table names shared by every service (DESIGN.md, 'Names')."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

# A source name becomes part of a topic name, so it is held to Kafka's legal characters,
# lower case, and short enough that `raw.<source>` stays under Kafka's 249-character limit.
SOURCE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]{0,199}$"
_SOURCE_NAME_RE: Final = re.compile(SOURCE_NAME_PATTERN)

RAW_TOPIC_PREFIX: Final = "raw."
# Dead letters keep the input they could not handle. Those whose input is unsanitized live under
# `raw.dlq` (`raw.dlq` itself and `raw.dlq.<service>`), so an access rule on the prefix `raw.` covers
# them and one on `sanitized.` never exposes raw text. `dlq` is therefore no source name, and the
# sanitizer's input pattern skips `raw.dlq` and every `raw.dlq.*` topic (it must not read its own
# dead letters).
RAW_DLQ_STEM: Final = "dlq"
RAW_DLQ_TOPIC: Final = RAW_TOPIC_PREFIX + RAW_DLQ_STEM  # the collector's: inputs from the sources
SANITIZER_DLQ_TOPIC: Final = f"{RAW_DLQ_TOPIC}.sanitizer"  # raw.* messages the sanitizer rejected
# The sanitizer's dead-letter topic before it moved under raw. (README, 'Migration'); never a default.
LEGACY_SANITIZER_DLQ_TOPIC: Final = "sanitized.dlq"
COLLECTOR_OFFSETS_TOPIC: Final = "collector.offsets"
SANITIZED_RECORDS_TOPIC: Final = "sanitized.records"
SANITIZED_TOPIC_PREFIX: Final = "sanitized."
# sanitized.records messages the writer rejected: sanitized data only, as protected as its input.
WRITER_DLQ_TOPIC: Final = "writer.dlq"
TRAINING_EVENTS_TOPIC: Final = "training.events"
# training.events messages the evaluator cannot read or act on: run metadata, no record text.
EVALUATOR_DLQ_TOPIC: Final = "evaluator.dlq"

DEFAULT_TABLE_PREFIX: Final = "tuneline-"

# TUNELINE_NAMESPACE: one word that prefixes every topic, consumer group, Faust app id and table as
# ``<namespace>.<name>``, so two pipelines share one broker and one DynamoDB. No dot inside, so the
# prefix is never ambiguous; at most 40 characters, so ``<namespace>.raw.<source>`` fits Kafka's 249.
NAMESPACE_PATTERN: Final = r"^([a-z0-9][a-z0-9_-]{0,39})?$"
_NAMESPACE_RE: Final = re.compile(NAMESPACE_PATTERN)
NAMESPACE_SEPARATOR: Final = "."


class Table(StrEnum):
    """The DynamoDB tables; the full name is ``<prefix><table>``."""

    RECORDS = "records"  # one item per record, keyed by record id
    STATE = "state"  # per-dataset counters and scheduler leases
    RUNS = "runs"  # training runs, evaluation reports and the model registry


def is_valid_source_name(name: str) -> bool:
    """Kafka-legal and not the dead-letter stem (``dlq``, ``dlq.<anything>``): ``raw.<name>`` must never
    be a dead-letter topic."""
    reserved = name == RAW_DLQ_STEM or name.startswith(RAW_DLQ_STEM + ".")
    return _SOURCE_NAME_RE.fullmatch(name) is not None and not reserved


def is_valid_namespace(namespace: str) -> bool:
    return _NAMESPACE_RE.fullmatch(namespace) is not None


def namespaced(name: str, namespace: str = "") -> str:
    """``name`` inside ``namespace``: ``<namespace>.<name>``, or ``name`` itself for the empty namespace.
    Every topic, consumer group, Faust app id and table prefix goes through here."""
    if not is_valid_namespace(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: lower-case letters, digits, '_' or '-', at most 40 "
            "characters, starting with a letter or digit"
        )
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def raw_topic(source: str, namespace: str = "") -> str:
    """The topic a source's records are published to: ``raw.<source>`` (inside the namespace)."""
    if not is_valid_source_name(source):
        raise ValueError(
            f"invalid source name {source!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(at most 200 characters, neither 'dlq' nor starting with 'dlq.')"
        )
    return namespaced(RAW_TOPIC_PREFIX + source, namespace)


def raw_topic_pattern(namespace: str = "") -> str:
    """A regex matching every raw topic of the namespace except the raw dead-letter topics
    (``raw.dlq`` and ``raw.dlq.<service>``)."""
    prefix = re.escape(namespaced(RAW_TOPIC_PREFIX, namespace))
    return rf"^{prefix}(?!{RAW_DLQ_STEM}(?:\.|$)).+"


def is_source_topic(topic: str, namespace: str = "") -> bool:
    """True for a source's raw topic of the namespace, false for its raw dead-letter topics."""
    return re.fullmatch(raw_topic_pattern(namespace), topic) is not None


def source_of_raw_topic(topic: str, namespace: str = "") -> str:
    """The source name in a raw topic's name (the topic itself when it is not one of the namespace's)."""
    prefix = namespaced(RAW_TOPIC_PREFIX, namespace)
    return topic.removeprefix(prefix)


def table_name(table: Table, prefix: str = DEFAULT_TABLE_PREFIX) -> str:
    return f"{prefix}{table.value}"
