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

# A published model folder (model store, one per run id): what the trainer and evaluator write beside
# the weights, and the admin API serves.
MODEL_MANIFEST: Final = "manifest.json"
EVAL_REPORT_DIR: Final = "evaluation"  # the evaluator's report: JSON, Markdown and charts/*.png
EVAL_REPORT_JSON: Final = "evaluation.json"
EVAL_REPORT_MARKDOWN: Final = "evaluation.md"
EVAL_CHARTS_DIR: Final = "charts"


class Table(StrEnum):
    """The DynamoDB tables; the full name is ``<prefix><table>``."""

    RECORDS = "records"  # one item per record, keyed by record id
    STATE = "state"  # per-dataset counters and scheduler leases
    RUNS = "runs"  # training runs, evaluation reports and the model registry


def is_valid_source_name(name: str) -> bool:
    return _SOURCE_NAME_RE.fullmatch(name) is not None and name != "dlq"


def raw_topic(source: str) -> str:
    """The topic a source's records are published to: ``raw.<source>``."""
    if not is_valid_source_name(source):
        raise ValueError(
            f"invalid source name {source!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(at most 200 characters, not 'dlq')"
        )
    return RAW_TOPIC_PREFIX + source


def table_name(table: Table, prefix: str = DEFAULT_TABLE_PREFIX) -> str:
    return f"{prefix}{table.value}"
