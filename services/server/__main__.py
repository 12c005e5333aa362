"""Entry point: ``python -m services.server``, ``tuneline serve`` or ``tuneline server run``: the
OpenAI-compatible API over each dataset's production model, following the registry."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from confluent_kafka import Consumer
from prometheus_client import REGISTRY, CollectorRegistry

from libs.common import aws
from libs.common.auth import TokenConfigError, load_admin_token
from libs.common.kafka import consumer_config, ensure_topics, wait_for_kafka
from libs.common.logging import configure_logging
from libs.model_folder.store import local_model
from libs.registry import ModelRegistry
from services.server.adapters.engine import Engine, EngineHooks, load_engine
from services.server.adapters.follower import RegistryFollower
from services.server.adapters.http_api import create_app
from services.server.adapters.models import Served, ServedModels
from services.server.metrics import ServerMetrics
from services.server.settings import ServerSettings, get_settings

log = logging.getLogger("services.server")


def build_models(settings: ServerSettings, metrics: ServerMetrics, s3: Any = None) -> ServedModels:
    """The served models, loading each production model from the store (``s3://`` copied to work_dir)."""

    def load(dataset: str, run_id: str, model_uri: str) -> Engine:
        folder = local_model(model_uri, settings.work_dir, s3)
        hooks = EngineHooks(
            queue_depth=metrics.queue_depth.labels(dataset).set,
            batch=metrics.batch_size.labels(dataset).observe,
        )
        return load_engine(
            str(folder),
            settings.device,
            settings.dtype,
            settings.max_batch,
            settings.batch_wait_ms / 1000,
            hooks,
            f"{dataset}-{run_id}",
            settings.batching,
            settings.max_tokens,
            settings.max_prompt_tokens,
        )

    def switched(new: Served, old: Served | None) -> None:
        if old is not None:
            metrics.production.remove(old.dataset, old.run_id)
        metrics.production.labels(new.dataset, new.run_id).set(1)
        metrics.switches.labels(new.dataset).inc()

    return ServedModels(load, settings.drain_timeout_s, on_switch=switched)


def main(registry: CollectorRegistry = REGISTRY) -> int:
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    try:
        secret = settings.api_token.get_secret_value() if settings.api_token else None
        token = load_admin_token(secret, settings.api_token_file, settings.insecure_dev)
        client = aws.dynamodb_client(shared)
    except (TokenConfigError, aws.AwsCredentialsMissing) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not wait_for_kafka(shared):
        return 2
    ensure_topics(shared, {settings.events_topic: 1})
    metrics = ServerMetrics.create(registry)
    models = build_models(settings, metrics)
    consumer = Consumer(
        consumer_config(
            shared,
            settings.group_id,
            # Promotions from now on (the registry read at start covers the past); nothing to commit.
            {"auto.offset.reset": "latest", "enable.auto.commit": False, "max.poll.interval.ms": 1_800_000},
        )
    )
    consumer.subscribe([settings.events_topic])
    follower = RegistryFollower(
        ModelRegistry(client, shared.table_prefix),
        models,
        settings.datasets,
        settings.registry_poll_s,
        consumer,
        on_load_error=lambda dataset: metrics.load_errors.labels(dataset).inc(),
    )

    def ready() -> bool:
        served = {s.dataset for s in models.current()}
        return bool(served) and set(settings.datasets) <= served

    app = create_app(
        models,
        metrics,
        registry,
        token,
        settings.limits,
        settings.max_concurrent,
        settings.max_body_bytes,
        ready,
        settings.log_prompts,
    )
    follower.start()
    log.info(
        "model server listening",
        extra={
            "host": settings.http_host,
            "port": settings.http_port,
            "datasets": settings.datasets or "all",
        },
    )
    try:
        uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
    finally:
        follower.stop()
        models.close()
    log.info("model server stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
