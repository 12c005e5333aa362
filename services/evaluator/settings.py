"""Settings of the evaluator (env prefix ``TUNELINE_EVALUATOR_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings


class EvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_EVALUATOR_", frozen=True, extra="ignore")

    http_port: int = Field(default=8084, description="Health, readiness and metrics endpoints.")
    gates_file: str = Field(default="config/gates.yaml", description="Promotion gates (YAML).")

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> EvaluatorSettings:
    return EvaluatorSettings()
