"""Settings of the collector (env prefix ``TUNELINE_COLLECTOR_``); shared connection settings live in
``libs.common.settings`` and the sources themselves in the YAML file named by ``config_file``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.paths import config_path
from libs.common.settings import SharedSettings, get_shared_settings, in_namespace
from libs.schemas.names import COLLECTOR_OFFSETS_TOPIC, RAW_DLQ_TOPIC


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_COLLECTOR_", frozen=True, extra="ignore")

    http_port: int = Field(default=8081, description="Health, readiness and metrics endpoints.")
    config_file: Path = Field(
        default_factory=lambda: config_path("sources.yaml"), description="Sources to collect (YAML)."
    )
    compression: Literal["lz4", "zstd", "snappy", "gzip", "none"] = "lz4"
    linger_ms: int = Field(default=20, ge=0, description="How long the producer waits to fill a batch.")
    queue_max_kbytes: int = Field(
        default=65536, ge=1024, description="Producer queue per source; when full, the source waits."
    )
    checkpoint_interval_s: float = Field(
        default=1.0, gt=0, description="Most one checkpoint per source per ..."
    )
    offsets_topic: str = Field(default=COLLECTOR_OFFSETS_TOPIC, validate_default=True)
    dlq_topic: str = Field(default=RAW_DLQ_TOPIC, validate_default=True)
    dlq_keep_value: bool = Field(
        default=True,
        description="Keep the rejected input in its dead letter (raw data: give the dead-letter topic the "
        "access rules of raw.*); false keeps the reason and where it was only.",
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")

    _namespaced = field_validator("offsets_topic", "dlq_topic")(in_namespace)

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> CollectorSettings:
    return CollectorSettings()
