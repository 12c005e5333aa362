"""Settings of the model server (env prefix ``TUNELINE_SERVER_``); shared connection settings live in
``libs.common.settings``."""

from __future__ import annotations

import socket
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.paths import home_path
from libs.common.settings import SharedSettings, get_shared_settings, in_namespace
from libs.schemas import TRAINING_EVENTS_TOPIC
from services.server.core.batching import Batching
from services.server.core.limits import Limits


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TUNELINE_SERVER_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 in a pod (the chart sets it).")
    http_port: int = Field(default=8085, description="The OpenAI-compatible API, health, readiness, metrics.")
    # Clients may get a token of their own; without one the admin token guards the API (same rules).
    api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TUNELINE_SERVER_API_TOKEN", "TUNELINE_ADMIN_TOKEN")
    )
    api_token_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TUNELINE_SERVER_API_TOKEN_FILE", "TUNELINE_ADMIN_TOKEN_FILE"),
    )
    insecure_dev: bool = Field(default=False, description="Serve without a token (dev only).")
    datasets: list[str] = Field(
        default_factory=list,
        description="Dataset aliases to serve; empty: every one with a production model.",
    )
    events_topic: str = Field(default=TRAINING_EVENTS_TOPIC, validate_default=True)
    group_id: str = Field(
        default_factory=lambda: f"tuneline-server.{socket.gethostname()}.{uuid.uuid4().hex[:8]}",
        validate_default=True,
        description="Each server process reads every promotion, so each has a group of its own (two on one "
        "host included); it commits nothing, and a read of the registry at start covers what came before.",
    )
    registry_poll_s: float = Field(default=30.0, gt=0, description="How often the registry is read anyway.")
    work_dir: Path = Field(
        default_factory=lambda: home_path("server"), description="Models fetched from s3://."
    )
    device: str = Field(default="auto", description="auto (CUDA when present), cpu, cuda, cuda:1...")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    batching: Batching = Field(
        default="auto",
        description="padded: requests queued a few ms, one padded generate call per batch (the faster one on "
        "CPU); continuous: transformers' continuous batching, paged attention; auto: continuous on CUDA.",
    )
    max_batch: int = Field(default=16, ge=1, le=256, description="Requests per generate call.")
    batch_wait_ms: float = Field(
        default=5.0, ge=0, le=1000, description="How long a request waits for company."
    )
    max_tokens: int = Field(default=512, ge=1, description="The most new tokens one request may ask for.")
    default_max_tokens: int = Field(default=256, ge=1, description="A chat request that names none.")
    max_prompt_tokens: int = Field(default=2048, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_concurrent: int = Field(default=64, ge=1, description="Completions at once; more get a 429.")
    drain_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest wait for an old model's requests."
    )
    log_prompts: bool = Field(default=False, description="Put prompt and answer text in the logs (off: PII).")

    _namespaced = field_validator("events_topic", "group_id")(in_namespace)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_tokens=self.max_tokens,
            default_max_tokens=min(self.default_max_tokens, self.max_tokens),
            max_prompt_tokens=self.max_prompt_tokens,
        )

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> ServerSettings:
    return ServerSettings()
