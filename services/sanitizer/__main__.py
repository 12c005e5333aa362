"""Entry point: ``python -m services.sanitizer`` or ``tuneline sanitizer run [--config policy.yaml]``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from functools import partial
from pathlib import Path

from libs.common.deprecations import warn_renamed_env
from libs.common.kafka import ensure_topics, kafka_answers, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from services.sanitizer.adapters.raw_topics import NewTopicWatcher, list_topic_names, wait_for_raw_topics
from services.sanitizer.build import feature_steps, freeze_loaded_objects, keys_from_settings, load_ner
from services.sanitizer.core.errors import SanitizerError
from services.sanitizer.core.policy import load_policy
from services.sanitizer.settings import RENAMED_ENV, get_settings

log = logging.getLogger("services.sanitizer")

# Faust, mode and aiokafka log message keys and values at DEBUG (faust.topics' publish_message logs
# "send: topic=%r k=%r v=%r" before a value is sanitized; raw records carry the personal data the
# sanitizer exists to remove). They stay at WARNING or above whatever TUNELINE_LOG_LEVEL says, unless
# TUNELINE_SANITIZER_LIBRARY_LOG_LEVEL lowers that floor to investigate (INFO shows rebalances and
# recovery without values).
_VALUE_LOGGING_LIBRARIES = ("faust", "mode", "aiokafka")


def quiet_value_logging_libraries(level: str, floor: str = "WARNING") -> None:
    configured = logging.getLevelName(level.upper())  # an int for a known level name
    lowest = logging.getLevelName(floor.upper())
    lowest = lowest if isinstance(lowest, int) else logging.WARNING
    for name in _VALUE_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(max(lowest, configured) if isinstance(configured, int) else lowest)


def main(config_file: str | Path | None = None) -> int:
    """Runs the worker until SIGTERM; ``config_file`` is the policy YAML (default: the setting)."""
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    warn_renamed_env(log, RENAMED_ENV)
    quiet_value_logging_libraries(shared.log_level, settings.library_log_level)
    try:
        policy = load_policy(config_file or settings.config_file)
        ner = load_ner(policy)
        feature_steps(policy)  # loads the language model and the tokenizer (cached): a bad one stops here
    except SanitizerError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 2
    from faust.worker import Worker  # Faust (and its event loop set-up) only when the worker runs

    from services.sanitizer.adapters.faust_app import create_app

    if not wait_for_kafka(shared):
        return 2
    if settings.create_topics:
        ensure_topics(
            shared,
            {
                settings.output_topic: settings.partitions,
                settings.dlq_topic: 1,
                settings.by_hash_topic: settings.partitions,
            },
        )
    subscribed = threading.Event()
    ops = OpsServer(
        settings.http_port,
        ready=lambda: (subscribed.is_set() and kafka_answers(shared), "kafka, raw topics"),
    ).start()
    watcher = None
    if not settings.input_topics:
        list_names = partial(list_topic_names, shared)
        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        topics = wait_for_raw_topics(list_names, settings.input_pattern, stopping)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        if not topics:
            ops.stop()
            return 0
        settings = settings.model_copy(update={"input_topics": tuple(topics)})
        watcher = NewTopicWatcher(list_names, settings.input_pattern, topics, settings.topic_refresh_s)
    sanitizer = create_app(settings, policy, keys_from_settings(settings), ner)
    freeze_loaded_objects()
    subscribed.set()
    log.info(
        "sanitizer starting",
        extra={
            "app_id": settings.app_id,
            "input": list(settings.input_topics),
            "key_id": settings.pseudonym_key_id,
        },
    )
    worker = Worker(
        sanitizer.app,
        loglevel=shared.log_level.lower(),
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    quiet_value_logging_libraries(
        shared.log_level, settings.library_log_level
    )  # again, should the Worker have set levels
    if watcher is not None:
        watcher.start()
    try:
        worker.execute_from_commandline()  # runs until SIGTERM/SIGINT; exits the process itself
    finally:
        if watcher is not None:
            watcher.stop()
        ops.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
