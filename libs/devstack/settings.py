"""Where the dev stack keeps its downloads and state, and which ports it uses."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

KAFKA_VERSION = "4.1.2"
# The slf4j binding Kafka's own distribution ships; the Maven artifact leaves it to the user.
LOG4J_VERSION = "2.25.3"
DYNALITE_VERSION = "4.0.0"


def _default_cache() -> Path:
    return Path.home() / ".cache" / "tuneline"


class DevStackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_DEV_", frozen=True, extra="ignore")

    cache_dir: Path = Field(
        default_factory=_default_cache,
        validation_alias="TUNELINE_CACHE_DIR",
        description="Downloads (Kafka jars, dynalite) and image build contexts; outside the repo.",
    )
    state_dir: Path | None = Field(
        default=None, description="Process state and data; default <cache>/devstack."
    )
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    dynamodb_port: int = 8000
    kafka_heap: str = "512m"
    start_timeout_s: float = 90.0

    @property
    def stack_dir(self) -> Path:
        return self.state_dir or self.cache_dir / "devstack"
