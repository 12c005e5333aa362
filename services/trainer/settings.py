"""Settings of the trainer (env prefix ``TUNELINE_TRAINER_``); connection settings shared by every
service live in ``libs.common.settings``, datasets and training defaults in the YAML at ``config_file``."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Final

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.paths import config_path, home_path
from libs.common.settings import SharedSettings, get_shared_settings, in_namespace
from libs.schemas import TRAINING_EVENTS_TOPIC

# Old environment names still read, and their replacements (the service warns at start).
RENAMED_ENV: Final = {"TUNELINE_TRAINER_CONFIG": "TUNELINE_TRAINER_CONFIG_FILE"}


class TrainerSettings(BaseSettings):
    # hide_input_in_errors: an error must not print the admin token it was given.
    model_config = SettingsConfigDict(
        env_prefix="TUNELINE_TRAINER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    config_file: Path = Field(
        default_factory=lambda: config_path("trainer.yaml"),
        # TUNELINE_TRAINER_CONFIG: the name before every service's YAML became config_file (deprecated,
        # still read).
        validation_alias=AliasChoices("TUNELINE_TRAINER_CONFIG_FILE", "TUNELINE_TRAINER_CONFIG"),
        description="Datasets, thresholds, training.",
    )
    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 in a pod (the chart sets it).")
    http_port: int = Field(default=8080, description="Admin API, health, readiness and metrics.")
    # DESIGN.md names these without the service prefix: other tools (the CLI, the chart) share them.
    admin_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TUNELINE_ADMIN_TOKEN", "TUNELINE_TRAINER_ADMIN_TOKEN")
    )
    admin_token_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TUNELINE_ADMIN_TOKEN_FILE", "TUNELINE_TRAINER_ADMIN_TOKEN_FILE"),
    )
    api_docs: bool = Field(
        default=False,
        description="Serve /docs and /redoc (their pages load Swagger UI and ReDoc from a CDN); "
        "/openapi.json is always served.",
    )
    insecure_dev: bool = Field(default=False, description="Serve the admin API without a token (dev only).")
    model_store: str = Field(
        default_factory=lambda: str(home_path("models")),
        validation_alias=AliasChoices("TUNELINE_MODEL_STORE", "TUNELINE_TRAINER_MODEL_STORE"),
        description="A local folder or s3://bucket/prefix; one folder per run id (default: TUNELINE_HOME).",
    )
    work_dir: Path = Field(
        default_factory=lambda: home_path("runs"), description="Snapshots, base models, checkpoints."
    )
    checkpoint_store: str | None = Field(
        default=None,
        description="Where Ray keeps checkpoints (a folder every node sees, or s3://bucket/prefix); "
        "unset: the run folder. Checkpoints of a run go under its run id.",
    )
    ray_address: str | None = Field(
        default=None, description="Join this Ray cluster (KubeRay); unset: local."
    )
    instance_id: str = Field(default_factory=socket.gethostname, description="This replica, as lease owner.")
    lease_ttl_s: float = Field(
        default=60.0, ge=5, description="A dead replica's lease frees after this long."
    )
    poll_interval_s: float = Field(default=2.0, gt=0, description="How often queued runs are looked for.")
    scheduler_interval_s: float = Field(default=10.0, gt=0, description="How often thresholds are checked.")
    scheduler_enabled: bool = True
    snapshot_parallelism: int = Field(default=8, ge=1, le=64)
    snapshot_settle_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the snapshot waits after taking its watermark before reading (the index "
        "is eventually consistent): every record stored before the run started is in it.",
    )
    events_topic: str = Field(default=TRAINING_EVENTS_TOPIC, validate_default=True)
    create_tables: bool = Field(
        default=True, description="Create missing tables at start (off in production)."
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")
    cancel_grace_s: float = Field(default=30.0, ge=1, description="SIGTERM to SIGKILL on cancel.")
    # The outbox of TrainingCompleted: runs whose event the broker has not acknowledged are announced
    # again by a sweeper on every replica; a claim keeps two replicas from sending one at once.
    announce_sweep_s: float = Field(
        default=30.0, gt=0, description="How often finished runs not yet announced are looked for."
    )
    announce_hold_s: float = Field(
        default=120.0,
        ge=40,  # longer than the publisher's 30 s wait for the broker's acknowledgement
        description="How long one replica holds a run's announcement before another may send it.",
    )

    _namespaced = field_validator("events_topic")(in_namespace)  # TUNELINE_NAMESPACE

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> TrainerSettings:
    return TrainerSettings()
