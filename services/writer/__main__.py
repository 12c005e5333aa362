"""Entry point: ``python -m services.writer`` or ``tuneline writer run``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from confluent_kafka import Consumer, Producer

from libs.common import aws
from libs.common.kafka import ensure_topics, kafka_answers, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from libs.schemas import Table, table_name
from libs.storage.tables import DatasetCounters, init_tables
from services.writer.adapters.dynamodb import DynamoBatchWriter
from services.writer.adapters.kafka import RecordWriter, consumer_config, producer_config
from services.writer.core.batch import BatchLimits
from services.writer.core.errors import WriterError
from services.writer.settings import WriterSettings, get_settings

log = logging.getLogger("services.writer")


def dynamodb_client(settings: WriterSettings) -> Any:
    return aws.dynamodb_client(settings.shared, max_pool_connections=settings.write_threads + 4)


def main() -> int:
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    try:
        client = dynamodb_client(settings)
    except aws.AwsCredentialsMissing as exc:
        log.error("writer cannot start: %s", exc)
        return 2
    if settings.create_tables:
        init_tables(client, shared.table_prefix)
    if not wait_for_kafka(shared):
        return 2
    if settings.create_topics:
        ensure_topics(shared, {settings.topic: settings.topic_partitions, settings.dlq_topic: 1})

    writer = DynamoBatchWriter(
        client,
        table_name(Table.RECORDS, shared.table_prefix),
        settings.write_threads,
        budget_s=settings.write_budget_s,
    )
    consumer = Consumer(
        consumer_config(
            shared,
            settings.group_id,
            settings.max_poll_interval_ms,
            settings.instance_id,
            settings.session_timeout_ms,
        )
    )
    service = RecordWriter(
        consumer,
        Producer(producer_config(shared)),
        settings.dlq_topic,
        writer,
        DatasetCounters(client, shared.table_prefix),
        BatchLimits(settings.batch_max_records, settings.batch_max_bytes, settings.batch_max_wait_s),
        settings.shared.index_shards,
        settings.max_item_bytes,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ops = OpsServer(settings.http_port, ready=lambda: (kafka_answers(shared), "kafka")).start()
    service.subscribe([settings.topic])
    log.info("writer started", extra={"topic": settings.topic, "group": settings.group_id})
    try:
        service.run(stop)
    except WriterError as exc:
        log.error("stopping without committing the failed batch", extra={"error": str(exc)})
        return 1
    finally:
        consumer.close()
        writer.close()
        ops.stop()
    log.info("writer stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
