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
RAW_DLQ_TOPIC: Final = "raw.dlq"
COLLECTOR_OFFSETS_TOPIC: Final = "collector.offsets"
SANITIZED_RECORDS_TOPIC: Final = "sanitized.records"
SANITIZED_DLQ_TOPIC: Final = "sanitized.dlq"
WRITER_DLQ_TOPIC: Final = "writer.dlq"
TRAINING_EVENTS_TOPIC: Final = "training.events"
EVALUATOR_DLQ_TOPIC: Final = "evaluator.dlq"  # training.events messages the evaluator cannot read

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
    return _SOURCE_NAME_RE.fullmatch(name) is not None and name != "dlq"


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
            "(at most 200 characters, not 'dlq')"
        )
    return namespaced(RAW_TOPIC_PREFIX + source, namespace)


def raw_topic_pattern(namespace: str = "") -> str:
    """A regex matching every raw topic of the namespace except the raw dead-letter topic."""
    prefix = re.escape(namespaced(RAW_TOPIC_PREFIX, namespace))
    return rf"^{prefix}(?!dlq$).+"


def source_of_raw_topic(topic: str, namespace: str = "") -> str:
    """The source name in a raw topic's name (the topic itself when it is not one of the namespace's)."""
    prefix = namespaced(RAW_TOPIC_PREFIX, namespace)
    return topic.removeprefix(prefix)


def table_name(table: Table, prefix: str = DEFAULT_TABLE_PREFIX) -> str:
    return f"{prefix}{table.value}"
