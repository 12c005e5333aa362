"""Entry point: ``python -m services.writer`` or ``tuneline writer run``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import Consumer, Producer

from libs.common import aws
from libs.common.kafka import ensure_topics, kafka_answers, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from libs.common.settings import SharedSettings
from libs.schemas import Table, table_name
from libs.storage.tables import DatasetCounters, init_tables
from services.writer.adapters.dynamodb import THROTTLING_CODES, DynamoBatchWriter, error_code
from services.writer.adapters.kafka import RecordWriter, consumer_config, producer_config
from services.writer.core.batch import BatchLimits
from services.writer.core.errors import WriterError
from services.writer.settings import WriterSettings, get_settings

log = logging.getLogger("services.writer")


def dynamodb_client(settings: WriterSettings) -> Any:
    return aws.dynamodb_client(settings.shared, max_pool_connections=settings.write_threads + 4)


def dynamodb_answers(shared: SharedSettings, table: str) -> Callable[[], bool]:
    """A readiness check of the table: one try, short timeouts (botocore's retries would hold the
    probe for half a minute while the server is away, and the writer cannot write meanwhile)."""
    probe = aws.dynamodb_client(
        shared.model_copy(
            update={
                "dynamodb_max_attempts": 1,
                "dynamodb_connect_timeout_s": 2.0,
                "dynamodb_read_timeout_s": 2.0,
            }
        )
    )

    def answers() -> bool:
        try:
            probe.describe_table(TableName=table)
        except BotoCoreError:
            return False  # no answer: stopped, unreachable, timed out
        except ClientError as exc:
            return error_code(exc) in THROTTLING_CODES  # a throttled server still stores, slower
        return True

    return answers


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

    records_table = table_name(Table.RECORDS, shared.table_prefix)
    writer = DynamoBatchWriter(
        client,
        records_table,
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
    table_answers = dynamodb_answers(shared, records_table)

    def ready() -> tuple[bool, str]:
        # Not ready while either end is away: the writer can neither read nor store.
        if not kafka_answers(shared):
            return False, "kafka"
        if not table_answers():
            return False, "dynamodb"
        return True, "kafka, dynamodb"

    ops = OpsServer(settings.http_port, ready=ready).start()
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
