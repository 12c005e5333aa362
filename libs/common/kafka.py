"""The one way to reach Kafka: client configurations built from the shared settings, and the helpers
every service shares (start-up wait, readiness probe, topic creation).

Every confluent-kafka ``Producer``, ``Consumer`` and ``AdminClient`` in the codebase gets its
configuration from ``client_config`` (or the ``producer_config``/``consumer_config`` presets on top of
it), and the Faust app its broker URL and credentials from ``libs.common.kafka_faust`` (kept apart so
that services without Faust never import it); a unit test fails on a client built from a dict literal
anywhere else. The security settings (``TUNELINE_KAFKA_SECURITY_PROTOCOL``, SASL, TLS,
OAUTHBEARER/OIDC) are described in ``docs/kafka-security.md``.

Secrets never reach a log line: ``describe`` is what may be logged about a connection.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from tenacity import retry, retry_if_result, stop_after_delay, wait_exponential

from libs.common.settings import SharedSettings

log = logging.getLogger(__name__)

# The settings that say how to connect (all but these two are reset by ``plaintext_settings``).
_CONNECTION_FIELDS = frozenset(name for name in SharedSettings.model_fields if name.startswith("kafka_")) - {
    "kafka_bootstrap",
    "kafka_wait_s",
}


def plaintext_settings(bootstrap: str) -> SharedSettings:
    """Shared settings for a local PLAINTEXT broker (the dev stack's and the test session's), whatever
    the ``TUNELINE_KAFKA_*`` security variables of this process say."""
    defaults = {name: SharedSettings.model_fields[name].default for name in _CONNECTION_FIELDS}
    return SharedSettings(kafka_bootstrap=bootstrap, **defaults)


def client_config(shared: SharedSettings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka configuration for any client (Producer, Consumer, AdminClient): the bootstrap
    servers and the security settings, then ``extra`` (the client's own keys; it may not override a
    connection key)."""
    config: dict[str, Any] = {
        "bootstrap.servers": shared.kafka_bootstrap,
        "security.protocol": shared.kafka_security_protocol,
    }
    if shared.kafka_uses_sasl:
        mechanism = shared.kafka_sasl_mechanism
        config["sasl.mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            config["sasl.oauthbearer.method"] = "oidc"
            config["sasl.oauthbearer.token.endpoint.url"] = shared.kafka_oauth_token_url
            config["sasl.oauthbearer.client.id"] = shared.kafka_oauth_client_id
            config["sasl.oauthbearer.client.secret"] = shared.kafka_oauth_client_secret_value()
            if shared.kafka_oauth_scope:
                config["sasl.oauthbearer.scope"] = shared.kafka_oauth_scope
        else:
            config["sasl.username"] = shared.kafka_sasl_username
            config["sasl.password"] = shared.kafka_sasl_password_value()
    if shared.kafka_uses_tls:
        if shared.kafka_ssl_ca_file is not None:
            config["ssl.ca.location"] = str(shared.kafka_ssl_ca_file)
        if shared.kafka_ssl_cert_file is not None and shared.kafka_ssl_key_file is not None:
            config["ssl.certificate.location"] = str(shared.kafka_ssl_cert_file)
            config["ssl.key.location"] = str(shared.kafka_ssl_key_file)
            if (key_password := shared.kafka_ssl_key_password_value()) is not None:
                config["ssl.key.password"] = key_password
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if shared.kafka_ssl_verify_hostname else "none"
        )
    for key, value in (extra or {}).items():
        if key in config:
            raise ValueError(f"{key!r} is a connection setting: set it through TUNELINE_KAFKA_* instead")
        config[key] = value
    return config


def producer_config(shared: SharedSettings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An idempotent producer (acks=all, ordered de-duplicated retries), then ``extra``."""
    return client_config(shared, {"enable.idempotence": True, "acks": "all", **(extra or {})})


def consumer_config(
    shared: SharedSettings, group_id: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A consumer of ``group_id`` that starts at the earliest offset when the group has none."""
    return client_config(shared, {"group.id": group_id, "auto.offset.reset": "earliest", **(extra or {})})


def admin_client(shared: SharedSettings, extra: Mapping[str, Any] | None = None) -> AdminClient:
    return AdminClient(client_config(shared, extra))


def describe(shared: SharedSettings) -> dict[str, Any]:
    """What may be logged about a connection: no password, secret or key password."""
    info: dict[str, Any] = {
        "bootstrap": shared.kafka_bootstrap,
        "security_protocol": shared.kafka_security_protocol,
    }
    if shared.kafka_uses_sasl:
        info["sasl_mechanism"] = shared.kafka_sasl_mechanism
        if shared.kafka_sasl_mechanism == "OAUTHBEARER":
            info["oauth_client_id"] = shared.kafka_oauth_client_id
        else:
            info["sasl_username"] = shared.kafka_sasl_username
    return info


# --- Faust (aiokafka) ------------------------------------------------------------------------------


# --- start-up, readiness, topics -------------------------------------------------------------------


def kafka_answers(shared: SharedSettings, timeout_s: float = 3.0) -> bool:
    """True when the broker returns cluster metadata with a controller (KRaft quorum is up)."""
    return kafka_problem(shared, timeout_s) is None


def kafka_problem(shared: SharedSettings, timeout_s: float = 3.0) -> str | None:
    """None when the broker answers with a controller; else why not, in librdkafka's words (an
    authentication or TLS failure rather than the transport error it causes)."""
    host, _, port = shared.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            pass
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    errors: list[KafkaError] = []
    admin = admin_client(shared, {"log_level": 0, "logger": _quiet_logger, "error_cb": errors.append})
    try:
        cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s)
        if cluster.controller is not None and bool(cluster.nodes):
            return None
        return "the cluster has no controller yet"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        admin.poll(0)  # serves error_cb: the authentication or TLS failure behind a timeout
        return _first_cause(errors) or str(exc) or type(exc).__name__


_CAUSES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED})


def _first_cause(errors: list[KafkaError]) -> str | None:
    causes = [e for e in errors if e.code() in _CAUSES] or errors
    return causes[0].str() if causes else None


def wait_for_kafka(shared: SharedSettings, timeout_s: float | None = None) -> bool:
    """Start-up, the same in every service: poll until the broker answers (bounded backoff) for at
    most ``TUNELINE_KAFKA_WAIT_S``; logs why (never a secret) and returns False when it did not."""
    limit = shared.kafka_wait_s if timeout_s is None else timeout_s
    last: list[str | None] = [None]

    def probe() -> bool:
        last[0] = kafka_problem(shared)
        return last[0] is None

    check = retry(
        retry=retry_if_result(lambda ok: not ok),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(limit),
        retry_error_callback=lambda _state: False,
    )(probe)
    if check():
        return True
    log.error(
        "Kafka did not answer in time (TUNELINE_KAFKA_WAIT_S)",
        extra={**describe(shared), "waited_s": limit, "reason": last[0]},
    )
    return False


class _QuietLogger(logging.Logger):
    def log(self, *args: object, **kwargs: object) -> None:  # librdkafka's connection-refused noise
        return None


_quiet_logger = _QuietLogger("librdkafka")


def ensure_topics(
    shared: SharedSettings,
    topics: dict[str, int],
    config: dict[str, str] | None = None,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet (name -> partitions); returns those created."""
    admin = admin_client(shared)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(name, partitions, replication, config=config or {})
        for name, partitions in topics.items()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
            log.info("created topic", extra={"topic": name})
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # a replica raced us: fine
                raise
    return created
