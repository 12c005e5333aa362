"""The collector's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS = Counter("tuneline_collector_records_total", "Records acknowledged by Kafka", ["source"])
BYTES = Counter("tuneline_collector_bytes_total", "Encoded bytes of acknowledged records", ["source"])
DEAD_LETTERS = Counter(
    "tuneline_collector_dead_letters_total", "Inputs sent to raw.dlq", ["source", "reason"]
)
ERRORS = Counter(
    "tuneline_collector_source_errors_total", "Failed passes (the source is retried)", ["source"]
)
SOURCE_UP = Gauge("tuneline_collector_source_up", "1 when the source's last pass succeeded", ["source"])
CHECKPOINT_TIME = Gauge(
    "tuneline_collector_checkpoint_timestamp_seconds",
    "Unix time of the last acknowledged checkpoint (its age is now minus this)",
    ["source"],
)
