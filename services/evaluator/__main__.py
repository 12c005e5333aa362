"""Entry point: ``python -m services.evaluator`` or ``tuneline evaluator run``: consume training.events,
evaluate every new model, record the report, promote or reject."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from libs.common import aws
from libs.common.kafka import consumer_config, ensure_topics, kafka_answers, producer_config, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from libs.registry import ModelRegistry
from services.evaluator.adapters.canaries import CanaryStore
from services.evaluator.adapters.training_data import TrainingRecords
from services.evaluator.core.config import load_config
from services.evaluator.core.errors import ConfigError
from services.evaluator.settings import EvaluatorSettings, get_settings
from services.evaluator.worker import EvaluationWorker

log = logging.getLogger("services.evaluator")


def dynamodb_client(settings: EvaluatorSettings) -> Any:
    return aws.dynamodb_client(settings.shared)


def main(config_file: str | Path | None = None) -> int:
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    try:
        config = load_config(config_file or settings.config_file)
        client = dynamodb_client(settings)
    except (ConfigError, aws.AwsCredentialsMissing) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not wait_for_kafka(shared):
        return 2
    if settings.create_topics:
        ensure_topics(shared, {settings.events_topic: 1, settings.dlq_topic: 1})
    consumer = Consumer(
        consumer_config(
            shared,
            settings.group_id,
            {
                "enable.auto.commit": False,  # an event is committed once its evaluation is recorded
                "max.poll.interval.ms": settings.max_poll_interval_ms,
            },
        )
    )
    producer = Producer(producer_config(shared))
    worker = EvaluationWorker(
        consumer,
        producer,
        ModelRegistry(client, shared.table_prefix),
        CanaryStore(client, shared.table_prefix) if settings.canaries else None,
        config,
        settings.work_dir,
        settings.events_topic,
        settings.dlq_topic,
        TrainingRecords.from_client(
            client, shared.table_prefix, shared.index_shards, config.pii_scan.max_training_records
        ),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stopping.set())
    ops = OpsServer(settings.http_port, ready=lambda: (kafka_answers(shared), "kafka")).start()
    log.info("evaluator started", extra={"topic": settings.events_topic, "group": settings.group_id})
    try:
        worker.run()
    finally:
        producer.flush(30)
        ops.stop()
    log.info("evaluator stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
