"""Settings of the trainer (env prefix ``TUNELINE_TRAINER_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings


class TrainerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_TRAINER_", frozen=True, extra="ignore")

    http_port: int = Field(default=8080, description="Health, readiness and metrics endpoints.")
    datasets_file: str = Field(
        default="config/datasets.yaml", description="Thresholds and training configs (YAML)."
    )

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> TrainerSettings:
    return TrainerSettings()
