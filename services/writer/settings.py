"""Settings of the writer (env prefix ``TUNELINE_WRITER_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings


class WriterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_WRITER_", frozen=True, extra="ignore")

    http_port: int = Field(default=8083, description="Health, readiness and metrics endpoints.")
    batch_size: int = Field(default=500, ge=1, le=10_000)

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> WriterSettings:
    return WriterSettings()
