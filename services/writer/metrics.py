"""The writer's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ITEMS_WRITTEN = Counter("tuneline_writer_items_written_total", "Items stored in DynamoDB", ["dataset"])
BATCHES = Counter("tuneline_writer_batches_total", "Batches made durable and committed")
BATCH_SECONDS = Histogram(
    "tuneline_writer_batch_seconds",
    "Write + commit time of a batch",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
UNPROCESSED_RETRIED = Counter(
    "tuneline_writer_unprocessed_items_total", "Items DynamoDB handed back and we resent"
)
THROTTLED = Counter(
    "tuneline_writer_throttled_requests_total", "BatchWriteItem requests refused by throttling"
)
SPLIT_REQUESTS = Counter(
    "tuneline_writer_rejected_requests_total",
    "BatchWriteItem requests DynamoDB refused for their content, each then split in halves",
)
COMMITS_GIVEN_UP = Counter(
    "tuneline_writer_commits_given_up_total",
    "Offset commits of stored batches given up (the group moved on, or the coordinator stayed away)",
    ["reason"],
)
DEAD_LETTERS = Counter("tuneline_writer_dead_letters_total", "Records sent to writer.dlq", ["reason"])
CONSUMER_LAG = Gauge("tuneline_writer_consumer_lag", "Messages not yet consumed", ["partition"])
LAST_COMMIT = Gauge("tuneline_writer_last_commit_timestamp_seconds", "Unix time of the last offset commit")
