"""What the demo shows while it runs: counters scraped from every service's /metrics, consumer lag
read from Kafka, and the training run read from the admin API. Reading only: nothing here changes
the pipeline."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse_metrics(text: str) -> Samples:
    """Prometheus text -> {sample name: {sorted label pairs: value}}."""
    out: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = float(sample.value)
    return dict(out)


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """One counter's values keyed by one label (summed over the others)."""
    out: dict[str, float] = defaultdict(float)
    for labels, value in samples.get(name, {}).items():
        out[dict(labels).get(label, "")] += value
    return dict(out)


def total(samples: Samples, name: str) -> float:
    return sum(samples.get(name, {}).values())


@dataclass
class TrainingView:
    run_id: str
    state: str
    phase: str
    step: int
    max_steps: int
    epoch: float
    loss: float | None
    record_count: int
    model_uri: str | None
    error: str | None

    @classmethod
    def of(cls, run: Mapping[str, Any]) -> TrainingView:
        progress = run.get("progress") or {}
        metrics = run.get("metrics") or {}
        loss = metrics.get("loss", metrics.get("train_loss"))
        return cls(
            run_id=str(run["run_id"]),
            state=str(run["state"]),
            phase=str(progress.get("phase", "queued")),
            step=int(progress.get("step", 0)),
            max_steps=int(progress.get("max_steps", 0)),
            epoch=float(progress.get("epoch", 0.0)),
            loss=float(loss) if isinstance(loss, int | float) else None,
            record_count=int(run.get("record_count") or 0),
            model_uri=run.get("model_uri"),
            error=run.get("error"),
        )

    @property
    def activity(self) -> str:
        """What a person should read: never "step 0 / 0" while Ray is still starting its workers."""
        if self.state in {"succeeded", "failed", "cancelled"}:
            return self.state
        if self.state == "queued":
            return "queued"
        if self.phase == "training" and self.max_steps > 0:
            return f"training step {self.step} / {self.max_steps}"
        if self.phase in {"queued", "training"}:
            return "starting Ray workers and loading the base model"
        return self.phase


@dataclass
class PipelineView:
    """One refresh of the live view."""

    collected: dict[str, float] = field(default_factory=dict)  # per source
    collector_dead_letters: float = 0.0
    sanitizer_in: float = 0.0
    sanitizer_out: dict[str, float] = field(default_factory=dict)  # per dataset
    dropped: dict[str, float] = field(default_factory=dict)  # per reason
    sanitizer_dead_letters: float = 0.0
    pii: dict[str, float] = field(default_factory=dict)  # per entity type
    stored: dict[str, float] = field(default_factory=dict)  # per dataset
    writer_dead_letters: float = 0.0
    lag: dict[str, int | None] = field(default_factory=dict)  # per consumer group
    training: TrainingView | None = None
    decision: str | None = None
    unreachable: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> float:
        return sum(v for reason, v in self.dropped.items() if "duplicate" in reason)

    @property
    def filtered(self) -> dict[str, float]:
        """Records the feature filters dropped, per filter (``filtered:lang`` -> ``lang``)."""
        prefix = "filtered:"
        return {r.removeprefix(prefix): v for r, v in self.dropped.items() if r.startswith(prefix)}

    @classmethod
    def of(cls, scraped: Mapping[str, Samples]) -> PipelineView:
        view = cls()
        collector = scraped.get("collector", {})
        view.collected = by_label(collector, "tuneline_collector_records_total", "source")
        view.collector_dead_letters = total(collector, "tuneline_collector_dead_letters_total")
        sanitizer = scraped.get("sanitizer", {})
        view.sanitizer_in = total(sanitizer, "tuneline_sanitizer_records_in_total")
        view.sanitizer_out = by_label(sanitizer, "tuneline_sanitizer_records_out_total", "dataset")
        view.dropped = by_label(sanitizer, "tuneline_sanitizer_dropped_total", "reason")
        view.sanitizer_dead_letters = total(sanitizer, "tuneline_sanitizer_dead_letters_total")
        view.pii = by_label(sanitizer, "tuneline_sanitizer_pii_total", "entity")
        writer = scraped.get("writer", {})
        view.stored = by_label(writer, "tuneline_writer_items_written_total", "dataset")
        view.writer_dead_letters = total(writer, "tuneline_writer_dead_letters_total")
        return view


def scrape(client: httpx.Client, urls: Mapping[str, str]) -> tuple[dict[str, Samples], list[str]]:
    """Every service's /metrics; the names of those that did not answer (starting, or down)."""
    scraped: dict[str, Samples] = {}
    missing: list[str] = []
    for name, url in urls.items():
        try:
            response = client.get(url, timeout=2.0)
            response.raise_for_status()
            scraped[name] = parse_metrics(response.text)
        except httpx.HTTPError:
            missing.append(name)
    return scraped, missing


class LagProbe:
    """Messages not yet committed by a consumer group, summed over the partitions of its topics (on the
    demo's own local PLAINTEXT broker)."""

    def __init__(self, bootstrap: str) -> None:
        from libs.common.kafka import plaintext_settings

        self._kafka = plaintext_settings(bootstrap)
        self._admin: Any = None

    def lag(self, group: str, topics: Iterable[str]) -> int | None:
        from confluent_kafka import Consumer, TopicPartition

        from libs.common.kafka import client_config

        consumer = Consumer(client_config(self._kafka, {"group.id": group, "enable.auto.commit": False}))
        try:
            metadata = consumer.list_topics(timeout=3.0)
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                if topic in metadata.topics
                for p in metadata.topics[topic].partitions
            ]
            if not partitions:
                return None
            behind = 0
            for tp in consumer.committed(partitions, timeout=3.0):
                low, high = consumer.get_watermark_offsets(tp, timeout=3.0)
                behind += high - (tp.offset if tp.offset >= 0 else low)
            return behind
        except Exception:  # the view shows "?" rather than stopping the demo on a slow broker
            log.debug("lag probe failed", exc_info=True)
            return None
        finally:
            with contextlib.suppress(Exception):
                consumer.close()

    def close(self) -> None:
        """Drop the admin client (librdkafka destroys it with its last reference)."""
        self._admin = None

    def topics(self, prefix: str) -> list[str]:
        from libs.common.kafka import admin_client

        if self._admin is None:
            self._admin = admin_client(self._kafka)
        try:
            names = self._admin.list_topics(timeout=3.0).topics
        except Exception:
            return []
        return sorted(name for name in names if name.startswith(prefix))
