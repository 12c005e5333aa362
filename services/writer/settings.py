"""Settings of the writer (env prefix ``TUNELINE_WRITER_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings, in_namespace
from libs.schemas import SANITIZED_RECORDS_TOPIC, WRITER_DLQ_TOPIC
from libs.storage.items import MAX_ITEM_BYTES


class WriterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_WRITER_", frozen=True, extra="ignore")

    http_port: int = Field(default=8083, description="Health, readiness and metrics endpoints.")
    group_id: str = Field(default="tuneline-writer", validate_default=True)
    instance_id: str | None = Field(
        default=None,
        description="Kafka static membership (group.instance.id), e.g. the pod name of a StatefulSet: a "
        "restarted writer takes its partitions back at once instead of waiting out the session timeout.",
    )
    session_timeout_ms: int = Field(default=45_000, ge=6_000)
    topic: str = Field(default=SANITIZED_RECORDS_TOPIC, validate_default=True)
    dlq_topic: str = Field(default=WRITER_DLQ_TOPIC, validate_default=True)
    topic_partitions: int = Field(
        default=6, ge=1, description="Used only when the writer creates its topics."
    )
    batch_max_records: int = Field(default=1000, ge=1, le=100_000)
    batch_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    batch_max_wait_s: float = Field(default=1.0, gt=0)
    write_threads: int = Field(default=4, ge=1, le=64)
    write_budget_s: float = Field(
        default=60.0, gt=0, description="Retry budget of one batch before giving up."
    )
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    max_item_bytes: int = Field(default=MAX_ITEM_BYTES, ge=1024, le=MAX_ITEM_BYTES)
    create_tables: bool = Field(
        default=True, description="Create missing tables at start (off in production)."
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")

    _namespaced = field_validator("group_id", "topic", "dlq_topic")(in_namespace)  # TUNELINE_NAMESPACE

    @model_validator(mode="after")
    def _batch_fits_poll_interval(self) -> WriterSettings:
        # A batch is written between two polls; if it could take longer than max.poll.interval.ms
        # the broker would evict us mid-batch and reassign the partitions.
        if self.write_budget_s * 1000 >= self.max_poll_interval_ms * 0.8:
            raise ValueError("write_budget_s must stay under 80% of max_poll_interval_ms")
        return self

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> WriterSettings:
    return WriterSettings()
