"""Entry point: ``python -m services.evaluator`` or ``tuneline evaluator run``: consume training.events,
evaluate every new model, record the report, promote or reject; in a background thread, the continuous
evaluation of each production model (``drift.py``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from libs.common import aws
from libs.common.backoff import Backoff
from libs.common.kafka import consumer_config, ensure_topics, kafka_answers, producer_config, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from libs.registry import ModelRegistry
from libs.storage.runs import read_run
from libs.storage.tables import DatasetCounters
from services.evaluator.adapters.canaries import CanaryStore
from services.evaluator.adapters.drift_io import AdminClient, FreshRecords, read_token
from services.evaluator.adapters.evaluations import Evaluations
from services.evaluator.adapters.retry import Retry
from services.evaluator.adapters.training_data import TrainingRecords
from services.evaluator.core.config import EvaluatorConfig, load_config
from services.evaluator.core.errors import ConfigError
from services.evaluator.drift import DriftChecker, DriftScheduler
from services.evaluator.settings import EvaluatorSettings, get_settings
from services.evaluator.worker import EvaluationWorker

log = logging.getLogger("services.evaluator")


def dynamodb_client(settings: EvaluatorSettings) -> Any:
    return aws.dynamodb_client(settings.shared)


def drift_checker(
    settings: EvaluatorSettings,
    config: EvaluatorConfig,
    client: Any,
    model_lock: threading.Lock | None = None,
) -> DriftChecker:
    """The continuous evaluation's checker (shared by the worker and ``tuneline drift``)."""
    shared = settings.shared
    token = read_token(
        settings.admin_token.get_secret_value() if settings.admin_token else None, settings.admin_token_file
    )
    return DriftChecker(
        ModelRegistry(client, shared.table_prefix),
        DatasetCounters(client, shared.table_prefix),
        FreshRecords.from_client(client, shared.table_prefix, shared.index_shards),
        AdminClient(settings.admin_url, token),
        config,
        settings.work_dir,
        model_lock=model_lock,
    )


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
    model_lock = threading.Lock()
    drift: DriftScheduler | None = None
    if config.drift.enabled:
        try:
            drift = DriftScheduler(drift_checker(settings, config, client, model_lock))
        except (OSError, ValueError) as exc:
            log.error("cannot start the continuous evaluation: %s", exc)
            return 2
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
        model_lock=model_lock,
        runs=lambda run_id: read_run(client, shared.table_prefix, run_id),
        evaluations=Evaluations(client, shared.table_prefix),
        retry=Retry(settings.retry_attempts, Backoff(base_s=1.0, cap_s=settings.retry_max_delay_s)),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stopping.set())
    ops = OpsServer(settings.http_port, ready=lambda: (kafka_answers(shared), "kafka")).start()
    log.info("evaluator started", extra={"topic": settings.events_topic, "group": settings.group_id})
    if drift is not None:
        drift.start()
        log.info("continuous evaluation started", extra={"poll_s": config.drift.poll_s})
    try:
        worker.run()
    finally:
        if drift is not None:
            drift.stop()
        producer.flush(30)
        ops.stop()
    log.info("evaluator stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
