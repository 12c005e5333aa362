"""Connection settings every service shares (DESIGN.md, 'Names, settings and ports').

These use the unprefixed ``TUNELINE_*`` variables; a service's own settings use
``TUNELINE_<SERVICE>_*`` and embed this object.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.schemas.names import DEFAULT_TABLE_PREFIX


class SharedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    dynamodb_endpoint: str | None = Field(
        default=None, description="DynamoDB-compatible endpoint URL; unset means AWS itself."
    )
    aws_region: str = "us-east-1"
    table_prefix: str = DEFAULT_TABLE_PREFIX
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")


@lru_cache(maxsize=1)
def get_shared_settings() -> SharedSettings:
    return SharedSettings()
