"""Settings of the sanitizer (env prefix ``TUNELINE_SANITIZER_``); shared connection settings live in
``libs.common.settings``. Policies (datasets, field policies, operators) live in the YAML file
``config_file`` points at."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.paths import config_path, home_path
from libs.common.settings import SharedSettings, get_shared_settings, in_namespace, secrets_from_files
from libs.schemas import SANITIZED_RECORDS_TOPIC, SANITIZER_DLQ_TOPIC, namespaced, raw_topic_pattern
from libs.schemas.names import SANITIZED_TOPIC_PREFIX

PLACEHOLDER_KEY: Final = "dev-only-pseudonym-key-change-me"
# Old environment names still read, and their replacements (the service warns at start).
RENAMED_ENV: Final = {"TUNELINE_SANITIZER_POLICIES_FILE": "TUNELINE_SANITIZER_CONFIG_FILE"}


class SanitizerSettings(BaseSettings):
    # hide_input_in_errors: a model-level error would otherwise print every input, keys included.
    model_config = SettingsConfigDict(
        env_prefix="TUNELINE_SANITIZER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    http_port: int = Field(default=8082, description="Health, readiness and metrics endpoints.")
    config_file: Path = Field(
        default_factory=lambda: config_path("sanitizer.yaml"),
        # TUNELINE_SANITIZER_POLICIES_FILE: the name before every service's YAML became config_file
        # (deprecated, still read).
        validation_alias=AliasChoices("TUNELINE_SANITIZER_CONFIG_FILE", "TUNELINE_SANITIZER_POLICIES_FILE"),
        description="Datasets, field policies, operators (YAML).",
    )
    dev_mode: bool = Field(default=False, description="Allows the placeholder keys (local use only).")
    pseudonym_key: SecretStr = Field(
        default=SecretStr(PLACEHOLDER_KEY), description="HMAC key of the pseudonyms (32+ bytes)."
    )
    pseudonym_key_file: Path | None = Field(
        default=None, description="A mounted file holding the pseudonym key (instead of the variable)."
    )
    pseudonym_key_id: str = Field(
        default="k1", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Recorded on every record."
    )
    encryption_key: SecretStr | None = Field(
        default=None, description="AES key (16, 24 or 32 bytes) for the `encrypt` operator."
    )
    encryption_key_file: Path | None = Field(
        default=None, description="A mounted file holding the AES key (instead of the variable)."
    )

    # Names below are put inside TUNELINE_NAMESPACE (default or set); input_pattern is a regex and is
    # taken as written when set (its default matches the namespace's raw topics).
    app_id: str = Field(default="tuneline-sanitizer", validate_default=True)
    input_pattern: str = Field(
        default_factory=lambda: raw_topic_pattern(get_shared_settings().namespace),
        description="Raw topics consumed (regex, matched in full): resolved against the broker's topics at "
        "start and every topic_refresh_s, since Faust cannot subscribe by pattern.",
    )
    topic_refresh_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the pattern is matched again; a new raw topic restarts the worker to read it.",
    )
    input_topics: tuple[str, ...] = Field(
        default=(), description="Consume these raw topics instead of the pattern (comma-free JSON list)."
    )
    output_topic: str = Field(default=SANITIZED_RECORDS_TOPIC, validate_default=True)
    dlq_topic: str = Field(
        default=SANITIZER_DLQ_TOPIC,
        validate_default=True,
        description="Dead letters: they hold the rejected raw message, so the default lives under raw. "
        "(raw.dlq.sanitizer; sanitized.dlq before) and a sanitized.* name is refused while "
        "dlq_keep_value is on.",
    )
    dlq_keep_value: bool = Field(
        default=True,
        description="Keep the rejected message in its dead letter (raw data: the default topic sits under "
        "raw.*, with its access rules); false keeps the reason, key and coordinates only.",
    )
    by_hash_topic: str = Field(
        default="sanitizer.by-hash",
        validate_default=True,
        description="Repartition topic keyed by content hash.",
    )
    partitions: int = Field(default=6, ge=1, description="Partitions of the by-hash topic and table.")
    store: str = Field(
        default="rocksdb://", description="Faust table store: rocksdb:// (rocksdict) or memory://."
    )
    datadir: str = Field(
        default_factory=lambda: str(home_path("sanitizer")),
        description="Faust table state (a volume in production); default under TUNELINE_HOME.",
    )
    faust_web_port: int = Field(default=6066, description="Faust binds it even with its web disabled.")
    session_timeout_s: float = Field(
        default=30.0,
        ge=6.0,
        description="Kafka group session timeout: how soon a dead worker's partitions move.",
    )
    batch_size: int = Field(
        default=256,  # 64 drained 8% slower (benchmarks/sanitizer_stream.py); the NER batch is 256 too
        ge=1,
        description="Events each agent takes at once: NER runs once per batch, sends are confirmed together.",
    )
    batch_within_s: float = Field(
        default=0.1,
        gt=0,
        description="The longest an event waits for its batch to fill: a lone record goes out after this.",
    )
    send_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a send may wait for the broker's confirmation before the worker stops "
        "(unacked, so a restart reads the message again) instead of hanging.",
    )
    max_record_bytes: int = Field(default=1024 * 1024, ge=1024, description="Bigger messages: DLQ.")
    max_message_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="Largest message sent to the by-hash and sanitized topics (at most the broker's "
        "message.max.bytes): a bigger normalized or sanitized record goes to the DLQ, since a refused "
        "send stops the worker.",
    )
    library_log_level: str = Field(
        default="WARNING",
        pattern=r"^(?i:DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Floor of the faust, mode and aiokafka loggers. Below WARNING only to investigate: "
        "at DEBUG they log message values (personal data).",
    )
    create_topics: bool = Field(default=True, description="Create the output topics at start.")

    _namespaced = field_validator("app_id", "output_topic", "dlq_topic", "by_hash_topic")(in_namespace)

    @field_validator("input_topics", mode="after")
    @classmethod
    def _namespaced_inputs(cls, topics: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(in_namespace(topic) for topic in topics)

    @model_validator(mode="before")
    @classmethod
    def _keys_from_files(cls, data: Any) -> Any:
        return secrets_from_files(
            data,
            {
                "pseudonym_key": "TUNELINE_SANITIZER_PSEUDONYM_KEY",
                "encryption_key": "TUNELINE_SANITIZER_ENCRYPTION_KEY",
            },
        )

    @model_validator(mode="after")
    def _real_keys_outside_dev(self) -> SanitizerSettings:
        key = self.pseudonym_key.get_secret_value()
        if not self.dev_mode and (key == PLACEHOLDER_KEY or len(key.encode()) < 32):
            raise ValueError(
                "TUNELINE_SANITIZER_PSEUDONYM_KEY must be a secret of at least 32 bytes outside dev mode "
                "(TUNELINE_SANITIZER_DEV_MODE=true allows the placeholder locally)"
            )
        if self.encryption_key is not None and len(self.encryption_key.get_secret_value().encode()) not in (
            16,
            24,
            32,
        ):
            raise ValueError("TUNELINE_SANITIZER_ENCRYPTION_KEY must be 16, 24 or 32 bytes")
        return self

    @model_validator(mode="after")
    def _dead_letters_stay_out_of_sanitized_and_input(self) -> SanitizerSettings:
        # A dead letter keeps the raw message: under sanitized.* a reader of sanitized data would see
        # raw text; on a topic the worker consumes, each dead letter would be dead-lettered again.
        sanitized_prefix = namespaced(SANITIZED_TOPIC_PREFIX, get_shared_settings().namespace)
        if self.dlq_keep_value and self.dlq_topic.startswith(sanitized_prefix):
            raise ValueError(
                f"TUNELINE_SANITIZER_DLQ_TOPIC {self.dlq_topic!r} is under {sanitized_prefix!r}, but the "
                "sanitizer's dead letters hold raw input: use the default "
                f"{namespaced(SANITIZER_DLQ_TOPIC, get_shared_settings().namespace)!r} (or another raw. "
                "name), or TUNELINE_SANITIZER_DLQ_KEEP_VALUE=false"
            )
        if self.dlq_topic in self.input_topics or (
            not self.input_topics and re.fullmatch(self.input_pattern, self.dlq_topic)
        ):
            raise ValueError(
                f"TUNELINE_SANITIZER_DLQ_TOPIC {self.dlq_topic!r} is one of the sanitizer's inputs: it would "
                "read its own dead letters"
            )
        return self

    @property
    def shared(self) -> SharedSettings:
        return get_shared_settings()


@lru_cache(maxsize=1)
def get_settings() -> SanitizerSettings:
    return SanitizerSettings()
