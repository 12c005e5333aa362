"""Settings of the evaluator (env prefix ``TUNELINE_EVALUATOR_``); shared connection settings live in
``libs.common.settings``, gates and evaluation options in the YAML at ``config_file``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import SharedSettings, get_shared_settings
from libs.schemas import EVALUATOR_DLQ_TOPIC, TRAINING_EVENTS_TOPIC


class EvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_EVALUATOR_", frozen=True, extra="ignore")

    http_port: int = Field(default=8084, description="Health, readiness and metrics endpoints.")
    config_file: Path = Field(default=Path("config/evaluator.yaml"), description="Gates and eval options.")
    group_id: str = "tuneline-evaluator"
    events_topic: str = TRAINING_EVENTS_TOPIC
    dlq_topic: str = EVALUATOR_DLQ_TOPIC
    # An evaluation runs between two polls; the broker must not take the partition away meanwhile.
    max_poll_interval_ms: int = Field(default=3_600_000, ge=60_000, description="Longest evaluation allowed.")
    work_dir: Path = Field(default=Path(".tuneline/evaluator"), description="Models fetched from s3://.")
    model_store: str = Field(
        default=".tuneline/models",
        validation_alias=AliasChoices("TUNELINE_MODEL_STORE", "TUNELINE_EVALUATOR_MODEL_STORE"),
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")
    canaries: bool = Field(default=True, description="Test the candidate on the planted canaries.")

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> EvaluatorSettings:
    return EvaluatorSettings()
