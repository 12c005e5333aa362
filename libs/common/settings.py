"""Connection settings every service shares (DESIGN.md, 'Names, settings and ports').

These use the unprefixed ``TUNELINE_*`` variables; a service's own settings use
``TUNELINE_<SERVICE>_*`` and embed this object.

``TUNELINE_NAMESPACE`` (default empty) puts a whole pipeline in its own namespace: every topic, consumer
group, Faust app id and table becomes ``<namespace>.<name>``, so two pipelines share one broker and one
DynamoDB. The services' settings apply it to their names with ``in_namespace``; an explicitly set name
is namespaced too (a regex such as the sanitizer's ``input_pattern`` is taken as written).

The ``kafka_*`` settings are how every Kafka client reaches the broker: ``libs.common.kafka`` turns
them into librdkafka and Faust (aiokafka) configurations, and nothing else builds a client's
connection settings. The default is the local PLAINTEXT broker; see ``docs/kafka-security.md`` for
TLS and SASL (PLAIN, SCRAM, OAUTHBEARER/OIDC). Secrets are ``SecretStr`` (never printed) and may come
from mounted files (``*_FILE``) instead of the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.schemas.names import DEFAULT_TABLE_PREFIX, NAMESPACE_PATTERN, namespaced

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettingsError(ValueError):
    """A Kafka security setting that is missing or contradicts another (names the variables)."""


def _secret(value: SecretStr | None, file: Path | None) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if file is not None:
        return file.read_text().strip()
    return None


def secrets_from_files(data: Any, secrets: Mapping[str, str]) -> Any:
    """Put the content of each secret's mounted file (field ``<name>_file``) in the field ``<name>``.

    For the ``mode="before"`` validator of a settings class whose secrets are checked at start (a key's
    length): ``secrets`` maps each field to its variable, named in errors. Errors name the file, never
    its content.
    """
    if not isinstance(data, dict):
        return data
    for name, variable in secrets.items():
        path = data.get(f"{name}_file")
        if path is None or path == "":
            continue
        if data.get(name) not in (None, ""):
            raise ValueError(f"set {variable} or {variable}_FILE, not both")
        try:
            data = {**data, name: Path(path).read_text(encoding="utf-8").strip()}
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(f"cannot read {variable}_FILE {path}: {reason}") from None
    return data


def check_kafka_security(s: SharedSettings) -> None:
    """Raise ``KafkaSettingsError`` for combinations that could only fail later, at the broker."""
    problems: list[str] = []
    sasl = s.kafka_security_protocol.startswith("SASL_")
    tls = s.kafka_security_protocol in ("SSL", "SASL_SSL")
    protocol = f"TUNELINE_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol}"
    if sasl and s.kafka_sasl_mechanism is None:
        problems.append(f"{protocol} needs TUNELINE_KAFKA_SASL_MECHANISM")
    if not sasl and s.kafka_sasl_mechanism is not None:
        problems.append(f"TUNELINE_KAFKA_SASL_MECHANISM is set but {protocol} does not use SASL")
    if s.kafka_sasl_password is not None and s.kafka_sasl_password_file is not None:
        problems.append("set TUNELINE_KAFKA_SASL_PASSWORD or TUNELINE_KAFKA_SASL_PASSWORD_FILE, not both")
    if s.kafka_oauth_client_secret is not None and s.kafka_oauth_client_secret_file is not None:
        problems.append(
            "set TUNELINE_KAFKA_OAUTH_CLIENT_SECRET or TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE, not both"
        )
    if s.kafka_ssl_key_password is not None and s.kafka_ssl_key_password_file is not None:
        problems.append(
            "set TUNELINE_KAFKA_SSL_KEY_PASSWORD or TUNELINE_KAFKA_SSL_KEY_PASSWORD_FILE, not both"
        )
    if sasl and s.kafka_sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        if not s.kafka_sasl_username:
            problems.append(f"SASL {s.kafka_sasl_mechanism} needs TUNELINE_KAFKA_SASL_USERNAME")
        if s.kafka_sasl_password is None and s.kafka_sasl_password_file is None:
            problems.append(
                f"SASL {s.kafka_sasl_mechanism} needs TUNELINE_KAFKA_SASL_PASSWORD or "
                "TUNELINE_KAFKA_SASL_PASSWORD_FILE"
            )
    if sasl and s.kafka_sasl_mechanism == "OAUTHBEARER":
        if not s.kafka_oauth_token_url or not s.kafka_oauth_client_id:
            problems.append(
                "SASL OAUTHBEARER needs TUNELINE_KAFKA_OAUTH_TOKEN_URL and TUNELINE_KAFKA_OAUTH_CLIENT_ID"
            )
        if s.kafka_oauth_client_secret is None and s.kafka_oauth_client_secret_file is None:
            problems.append(
                "SASL OAUTHBEARER needs TUNELINE_KAFKA_OAUTH_CLIENT_SECRET or "
                "TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE"
            )
    if (s.kafka_ssl_cert_file is None) != (s.kafka_ssl_key_file is None):
        problems.append("TUNELINE_KAFKA_SSL_CERT_FILE and TUNELINE_KAFKA_SSL_KEY_FILE go together")
    tls_files = {
        "TUNELINE_KAFKA_SSL_CA_FILE": s.kafka_ssl_ca_file,
        "TUNELINE_KAFKA_SSL_CERT_FILE": s.kafka_ssl_cert_file,
        "TUNELINE_KAFKA_SSL_KEY_FILE": s.kafka_ssl_key_file,
    }
    if not tls and any(tls_files.values()):
        problems.append(f"TLS files are set but {protocol} does not use TLS (SSL or SASL_SSL)")
    secret_files = {
        "TUNELINE_KAFKA_SASL_PASSWORD_FILE": s.kafka_sasl_password_file,
        "TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE": s.kafka_oauth_client_secret_file,
        "TUNELINE_KAFKA_SSL_KEY_PASSWORD_FILE": s.kafka_ssl_key_password_file,
    }
    for name, path in {**tls_files, **secret_files}.items():
        if path is not None and not path.is_file():
            problems.append(f"{name}={path} is not a readable file")
    if problems:
        raise KafkaSettingsError("Kafka security settings: " + "; ".join(problems))


class SharedSettings(BaseSettings):
    # hide_input_in_errors: a validation error must not print the SASL password it was given.
    model_config = SettingsConfigDict(
        env_prefix="TUNELINE_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_wait_s: float = Field(
        default=120.0, gt=0, description="How long every service waits at start for Kafka to answer."
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (SASL_* protocols)."
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = Field(
        default=None, description="A mounted file holding the SASL password (instead of the variable)."
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle to verify the brokers; unset means the system's CAs."
    )
    kafka_ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate (mTLS).")
    kafka_ssl_key_file: Path | None = Field(default=None, description="PEM private key of the client cert.")
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_key_password_file: Path | None = Field(
        default=None, description="A mounted file holding the client key's password."
    )
    kafka_ssl_verify_hostname: bool = Field(
        default=True, description="Check that the broker's certificate names the host connected to."
    )
    kafka_oauth_token_url: str | None = Field(
        default=None, description="OAUTHBEARER: the OIDC token endpoint (client-credentials grant)."
    )
    kafka_oauth_client_id: str | None = None
    kafka_oauth_client_secret: SecretStr | None = None
    kafka_oauth_client_secret_file: Path | None = None
    kafka_oauth_scope: str | None = None
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

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Self:
        check_kafka_security(self)
        return self

    @property
    def kafka_uses_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def kafka_sasl_password_value(self) -> str | None:
        """The SASL password: the variable, else the mounted file (read now, so a rotated secret is
        picked up by the next client built)."""
        return _secret(self.kafka_sasl_password, self.kafka_sasl_password_file)

    def kafka_oauth_client_secret_value(self) -> str | None:
        return _secret(self.kafka_oauth_client_secret, self.kafka_oauth_client_secret_file)

    def kafka_ssl_key_password_value(self) -> str | None:
        return _secret(self.kafka_ssl_key_password, self.kafka_ssl_key_password_file)

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
