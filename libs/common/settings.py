"""Connection settings every service shares (DESIGN.md, 'Names, settings and ports').

These use the unprefixed ``TUNELINE_*`` variables; a service's own settings use
``TUNELINE_<SERVICE>_*`` and embed this object.

``TUNELINE_NAMESPACE`` (default empty) puts a whole pipeline in its own namespace: every topic, consumer
group, Faust app id and table becomes ``<namespace>.<name>``, so two pipelines share one broker and one
DynamoDB. The services' settings apply it to their names with ``in_namespace``; an explicitly set name
is namespaced too (a regex such as the sanitizer's ``input_pattern`` is taken as written).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.schemas.names import DEFAULT_TABLE_PREFIX, NAMESPACE_PATTERN, namespaced


class SharedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELINE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    dynamodb_endpoint: str | None = Field(
        default=None, description="DynamoDB-compatible endpoint URL; unset means AWS itself."
    )
    aws_region: str = "us-east-1"
    s3_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint URL for s3:// model stores; unset means AWS."
    )
    dynamodb_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts per DynamoDB or S3 call (botocore standard retries)."
    )
    dynamodb_connect_timeout_s: float = Field(default=5.0, gt=0)
    dynamodb_read_timeout_s: float = Field(default=30.0, gt=0)
    # Declared before table_prefix: its validator reads it.
    namespace: str = Field(
        default="",
        pattern=NAMESPACE_PATTERN,
        description="Prefixes every topic, consumer group, Faust app id and table (<namespace>.<name>).",
    )
    table_prefix: str = Field(
        default=DEFAULT_TABLE_PREFIX,
        validate_default=True,
        description="Table names are <prefix><table>; the namespace, when set, comes in front.",
    )
    index_shards: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Partitions of the records table's dataset index (libs.storage.items.dataset_shard): "
        "the writer spreads a dataset's items over them, the trainer and evaluator query them all.",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    @field_validator("table_prefix", mode="after")
    @classmethod
    def _namespaced_prefix(cls, value: str, info: ValidationInfo) -> str:
        return namespaced(value, info.data.get("namespace", ""))

    def in_namespace(self, name: str) -> str:
        """A topic, group or app id name inside this pipeline's namespace."""
        return namespaced(name, self.namespace)


@lru_cache(maxsize=1)
def get_shared_settings() -> SharedSettings:
    return SharedSettings()


def in_namespace(name: str) -> str:
    """``name`` inside the shared settings' namespace: a pydantic validator for the services' topic,
    consumer group and app id settings (``field_validator(...)(in_namespace)`` with
    ``validate_default=True`` on the fields, so defaults are namespaced as well)."""
    return get_shared_settings().in_namespace(name)
