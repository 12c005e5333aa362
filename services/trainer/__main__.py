"""Entry point: ``python -m services.trainer`` or ``tuneline trainer run``: the admin API, the threshold
scheduler and the run executor in one process (each training runs in a job process of its own)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import REGISTRY

from libs.common import aws
from libs.common.auth import TokenConfigError, load_admin_token
from libs.common.deprecations import warn_renamed_env
from libs.common.kafka import ensure_topics, wait_for_kafka
from libs.common.logging import configure_logging
from libs.registry import ModelRegistry, Production
from libs.schemas import ModelPromoted, PromotionAction
from services.trainer.adapters.dynamodb import DatasetState, DynamoRunStore, LeaseStore
from services.trainer.adapters.events import EventPublisher
from services.trainer.api.app import create_app
from services.trainer.core.config import load_config
from services.trainer.core.errors import ConfigError
from services.trainer.executor import RunExecutor
from services.trainer.scheduler import ThresholdScheduler
from services.trainer.service import TrainerService
from services.trainer.settings import RENAMED_ENV, TrainerSettings, get_settings

log = logging.getLogger("services.trainer")


def dynamodb_client(settings: TrainerSettings) -> Any:
    return aws.dynamodb_client(settings.shared)


def model_promoted(production: Production) -> ModelPromoted:
    """The event for a change made on the admin API (the evaluator announces its own promotions)."""
    action = {"rollback": PromotionAction.ROLLBACK}.get(production.action, PromotionAction.MANUAL)
    return ModelPromoted(
        run_id=production.run_id,
        dataset=production.dataset,
        occurred_at=production.promoted_at,
        model_uri=production.model_uri,
        previous_run_id=production.previous_run_id,
        action=action,
        by=production.promoted_by or "admin",
        reason=production.reason,
    )


def main(config_file: str | Path | None = None) -> int:
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    warn_renamed_env(log, RENAMED_ENV)
    try:
        token_value = settings.admin_token.get_secret_value() if settings.admin_token else None
        admin_token = load_admin_token(token_value, settings.admin_token_file, settings.insecure_dev)
        config = load_config(Path(config_file) if config_file else settings.config_file)
        client = dynamodb_client(settings)
    except (ConfigError, TokenConfigError, aws.AwsCredentialsMissing) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not wait_for_kafka(shared):
        return 2

    if settings.create_tables:
        from libs.storage.tables import init_tables

        init_tables(client, shared.table_prefix)
    if settings.create_topics:
        ensure_topics(shared, {settings.events_topic: 1})

    runs = DynamoRunStore(client, shared.table_prefix)
    events = EventPublisher(shared, settings.events_topic)
    datasets = DatasetState(client, shared.table_prefix)
    executor = RunExecutor(
        runs,
        LeaseStore(client, shared.table_prefix, settings.instance_id),
        datasets,
        events,
        settings.work_dir,
        settings.lease_ttl_s,
        settings.poll_interval_s,
        settings.cancel_grace_s,
        announce_hold_s=settings.announce_hold_s,
        announce_sweep_s=settings.announce_sweep_s,
    )
    service = TrainerService(
        config,
        runs,
        ModelRegistry(client, shared.table_prefix),
        on_submitted=executor.wake,
        on_production_changed=lambda production: events.publish(model_promoted(production)),
    )
    scheduler = ThresholdScheduler(config, service, datasets, settings.scheduler_interval_s)
    executor.start()
    executor.announcer.start()  # the outbox sweeper
    if settings.scheduler_enabled:
        scheduler.start()
    app = create_app(
        service, admin_token, readiness=lambda: executor.healthy, registry=REGISTRY, docs=settings.api_docs
    )
    log.info("trainer listening", extra={"host": settings.http_host, "port": settings.http_port,
                                          "datasets": [d.name for d in config.datasets]})  # fmt: skip
    # uvicorn re-raises the SIGTERM it handled once it has shut down; with Python's default handler the
    # process would die right there, before the executor cancels a run in progress, whose job and Ray
    # workers (a process group of their own) would be left running. Exit through the finally instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        scheduler.stop()
        executor.announcer.stop()
        executor.stop()
    return 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
