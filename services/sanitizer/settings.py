"""Settings of the sanitizer (env prefix ``TUNELINE_SANITIZER_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings


class SanitizerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_SANITIZER_", frozen=True, extra="ignore")

    http_port: int = Field(default=8082, description="Health, readiness and metrics endpoints.")
    policies_file: str = Field(
        default="config/policies.yaml", description="Datasets and field policies (YAML)."
    )

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> SanitizerSettings:
    return SanitizerSettings()
