"""The compose stack's one-shot init: the DynamoDB tables and the Kafka topics the pipeline shares, made
before any service starts, as a platform would in production (where the services run with
``TUNELINE_*_CREATE_TABLES=false``). Names and partition counts come from the services' own settings
and the shared namespace, so they are the ones the services would have made themselves; raw.<source>
topics stay with the collector, which knows its sources. Idempotent: what exists is left as it is.

    python /app/deploy/docker/init_stack.py      (in any tuneline image; exit 0 when done)
"""

from __future__ import annotations

import logging
import os
import sys

from libs.common import aws
from libs.common.kafka import ensure_topics, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.settings import get_shared_settings
from libs.schemas.names import EVALUATOR_DLQ_TOPIC, SANITIZER_DLQ_TOPIC, TRAINING_EVENTS_TOPIC
from libs.storage.tables import init_tables
from services.collector.adapters.kafka import OFFSETS_TOPIC_CONFIG
from services.collector.settings import get_settings as collector_settings
from services.writer.settings import get_settings as writer_settings

log = logging.getLogger("tuneline.init")


def main() -> int:
    shared = get_shared_settings()
    configure_logging(shared.log_level, shared.log_format)
    try:
        client = aws.dynamodb_client(shared)
    except aws.AwsCredentialsMissing as exc:
        log.error("init cannot start: %s", exc)
        return 2
    tables = init_tables(client, shared.table_prefix)
    if not wait_for_kafka(shared):
        return 2
    collector, writer = collector_settings(), writer_settings()
    # The sanitizer's by-hash topic must have as many partitions as its table: the same variable.
    sanitizer_partitions = int(os.environ.get("TUNELINE_SANITIZER_PARTITIONS", "").strip() or 6)
    topics = ensure_topics(
        shared,
        {
            collector.dlq_topic: 1,
            writer.topic: writer.topic_partitions,
            shared.in_namespace(SANITIZER_DLQ_TOPIC): 1,
            shared.in_namespace("sanitizer.by-hash"): sanitizer_partitions,
            writer.dlq_topic: 1,
            shared.in_namespace(TRAINING_EVENTS_TOPIC): 1,
            shared.in_namespace(EVALUATOR_DLQ_TOPIC): 1,
        },
    )
    topics += ensure_topics(shared, {collector.offsets_topic: 1}, config=OFFSETS_TOPIC_CONFIG)
    log.info("init done", extra={"tables_created": tables, "topics_created": topics})
    return 0


if __name__ == "__main__":
    sys.exit(main())
