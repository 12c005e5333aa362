"""Settings of the evaluator (env prefix ``TUNELINE_EVALUATOR_``); shared connection settings live in
``libs.common.settings``, gates and evaluation options in the YAML at ``config_file``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.paths import config_path, home_path
from libs.common.settings import SharedSettings, get_shared_settings, in_namespace
from libs.schemas import EVALUATOR_DLQ_TOPIC, TRAINING_EVENTS_TOPIC


class EvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TUNELINE_EVALUATOR_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    http_port: int = Field(default=8084, description="Health, readiness and metrics endpoints.")
    config_file: Path = Field(
        default_factory=lambda: config_path("evaluator.yaml"), description="Gates and eval options."
    )
    group_id: str = Field(default="tuneline-evaluator", validate_default=True)
    events_topic: str = Field(default=TRAINING_EVENTS_TOPIC, validate_default=True)
    dlq_topic: str = Field(default=EVALUATOR_DLQ_TOPIC, validate_default=True)
    # An evaluation runs between two polls; the broker must not take the partition away meanwhile.
    max_poll_interval_ms: int = Field(default=3_600_000, ge=60_000, description="Longest evaluation allowed.")
    work_dir: Path = Field(
        default_factory=lambda: home_path("evaluator"), description="Models fetched from s3://."
    )
    model_store: str = Field(
        default_factory=lambda: str(home_path("models")),
        validation_alias=AliasChoices("TUNELINE_MODEL_STORE", "TUNELINE_EVALUATOR_MODEL_STORE"),
    )
    # Transient S3/DynamoDB errors (throttling, 5xx, connection) around each step, before a dead letter.
    retry_attempts: int = Field(default=5, ge=1, le=20, description="Tries of one step.")
    retry_max_delay_s: float = Field(default=30.0, gt=0, description="Longest wait between two tries.")
    create_topics: bool = Field(default=True, description="Create missing topics at start.")
    canaries: bool = Field(default=True, description="Test the candidate on the planted canaries.")
    # Continuous evaluation asks the admin API for `drift` runs (its schedule and margins: the YAML).
    admin_url: str = Field(
        default="http://127.0.0.1:8080", description="The trainer's admin API (POST /v1/trainings)."
    )
    # DESIGN.md names these without the service prefix: every client of the admin API shares them.
    admin_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TUNELINE_ADMIN_TOKEN", "TUNELINE_EVALUATOR_ADMIN_TOKEN")
    )
    admin_token_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TUNELINE_ADMIN_TOKEN_FILE", "TUNELINE_EVALUATOR_ADMIN_TOKEN_FILE"),
    )

    _namespaced = field_validator("group_id", "events_topic", "dlq_topic")(in_namespace)  # TUNELINE_NAMESPACE

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> EvaluatorSettings:
    return EvaluatorSettings()
