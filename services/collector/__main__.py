"""Entry point: ``python -m services.collector`` or ``tuneline collector run --config sources.yaml``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from libs.common.kafka import ensure_topics, kafka_answers, wait_for_kafka
from libs.common.logging import configure_logging
from libs.common.ops import OpsServer
from libs.schemas.names import raw_topic
from services.collector.adapters.kafka import OffsetStore, producer_config
from services.collector.core.errors import CollectorError
from services.collector.runner import SourceRunner, sources_ready
from services.collector.settings import get_settings
from services.collector.sources import build_source, load_sources

log = logging.getLogger("services.collector")


def main(config_file: str | Path | None = None) -> int:
    settings = get_settings()
    shared = settings.shared
    configure_logging(shared.log_level, shared.log_format)
    try:
        sources = load_sources(config_file or settings.config_file).sources
        if not wait_for_kafka(shared):
            return 2
        offsets = OffsetStore(shared, settings.offsets_topic)
        if settings.create_topics:
            ensure_topics(
                shared,
                {raw_topic(s.name, shared.namespace): s.topic_partitions for s in sources},
            )
            ensure_topics(shared, {settings.dlq_topic: 1})
            offsets.ensure_topic()
        checkpoints = offsets.load()
    except (CollectorError, KafkaException, TimeoutError) as exc:
        log.error("collector cannot start", extra={"error": str(exc)})
        return 2

    config = producer_config(shared, settings.compression, settings.linger_ms, settings.queue_max_kbytes)
    stop = threading.Event()
    runners = [
        SourceRunner(
            build_source(source, stop),
            source.kind,
            Producer(config),
            raw_topic(source.name, shared.namespace),
            settings.dlq_topic,
            settings.offsets_topic,
            checkpoints.get(source.name, {}),
            source.poll_interval_s,
            settings.checkpoint_interval_s,
            dlq_keep_value=settings.dlq_keep_value,
        )
        for source in sources
    ]
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = [
        threading.Thread(target=runner.run, args=(stop,), name=f"source-{runner.name}") for runner in runners
    ]

    def ready() -> tuple[bool, str]:
        running, reason = sources_ready(runners, threads)
        if not running:
            return False, reason
        return kafka_answers(shared), "kafka"

    ops = OpsServer(settings.http_port, ready=ready).start()
    for thread in threads:
        thread.start()
    log.info(
        "collector started", extra={"sources": [r.name for r in runners], "resumed": sorted(checkpoints)}
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        ops.stop()
    log.info("collector stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
