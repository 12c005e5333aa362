"""Pydantic models, topic and table names shared by every tuneline service."""

from libs.schemas.codec import decode, decode_training_event, dumps, encode, export_json_schemas, loads
from libs.schemas.errors import SchemaDecodeError, SchemaEncodeError, SchemaError
from libs.schemas.events import (
    Decision,
    EvaluationCompleted,
    GateResult,
    RunStatus,
    TrainingCompleted,
    TrainingEvent,
    TrainingRequested,
    TriggerReason,
)
from libs.schemas.names import (
    COLLECTOR_OFFSETS_TOPIC,
    DEFAULT_TABLE_PREFIX,
    RAW_DLQ_TOPIC,
    RAW_TOPIC_PREFIX,
    SANITIZED_DLQ_TOPIC,
    SANITIZED_RECORDS_TOPIC,
    TRAINING_EVENTS_TOPIC,
    WRITER_DLQ_TOPIC,
    Table,
    raw_topic,
    table_name,
)
from libs.schemas.records import RawRecord, RecordKind, SanitizedRecord, stable_record_id

__all__ = [
    "COLLECTOR_OFFSETS_TOPIC",
    "DEFAULT_TABLE_PREFIX",
    "RAW_DLQ_TOPIC",
    "RAW_TOPIC_PREFIX",
    "SANITIZED_DLQ_TOPIC",
    "SANITIZED_RECORDS_TOPIC",
    "TRAINING_EVENTS_TOPIC",
    "WRITER_DLQ_TOPIC",
    "Decision",
    "EvaluationCompleted",
    "GateResult",
    "RawRecord",
    "RecordKind",
    "RunStatus",
    "SanitizedRecord",
    "SchemaDecodeError",
    "SchemaEncodeError",
    "SchemaError",
    "Table",
    "TrainingCompleted",
    "TrainingEvent",
    "TrainingRequested",
    "TriggerReason",
    "decode",
    "decode_training_event",
    "dumps",
    "encode",
    "export_json_schemas",
    "loads",
    "raw_topic",
    "stable_record_id",
    "table_name",
]
