"""Settings of the collector (env prefix ``TUNELINE_COLLECTOR_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_COLLECTOR_", frozen=True, extra="ignore")

    http_port: int = Field(default=8081, description="Health, readiness and metrics endpoints.")
    config_file: str = Field(default="config/sources.yaml", description="Sources to collect (YAML).")

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> CollectorSettings:
    return CollectorSettings()
