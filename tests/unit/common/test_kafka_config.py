"""The one Kafka client builder: shared settings -> librdkafka keys and Faust (aiokafka) credentials.

The same settings reach a real SASL_SSL broker in tests/integration/test_kafka_security.py; here, the
exact mapping for each protocol and mechanism, the validation of combinations, and the secrets kept out
of reprs, logs and errors.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from libs.common.kafka import (
    client_config,
    consumer_config,
    describe,
    plaintext_settings,
    producer_config,
)
from libs.common.kafka_faust import faust_broker, faust_credentials
from libs.common.kafka_oauth import OidcTokenProvider
from libs.common.settings import SharedSettings
from libs.devstack.tls import LocalCa, make_local_ca

SECRET = "s3cret-value"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TUNELINE_KAFKA_* of the machine running the tests leaks into these settings."""
    for name in list(os.environ):
        if name.startswith("TUNELINE_KAFKA_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_local_ca(tmp_path_factory.mktemp("tls"))


def settings(**values: Any) -> SharedSettings:
    return SharedSettings(kafka_bootstrap="broker-1:9093,broker-2:9093", **values)


def test_the_default_is_the_local_plaintext_broker() -> None:
    assert client_config(SharedSettings()) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }
    assert faust_credentials(SharedSettings()) is None
    assert SharedSettings().kafka_wait_s == 120


def test_sasl_ssl_scram_with_a_ca_and_a_client_certificate(ca: LocalCa) -> None:
    shared = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc-writer",
        kafka_sasl_password=SECRET,
        kafka_ssl_ca_file=ca.ca,
        kafka_ssl_cert_file=ca.client.cert,
        kafka_ssl_key_file=ca.client.key,
        kafka_ssl_key_password="key-pass",
    )
    assert client_config(shared) == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc-writer",
        "sasl.password": SECRET,
        "ssl.ca.location": str(ca.ca),
        "ssl.certificate.location": str(ca.client.cert),
        "ssl.key.location": str(ca.client.key),
        "ssl.key.password": "key-pass",
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_sasl_plaintext_plain_has_no_tls_keys() -> None:
    shared = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password=SECRET,
    )
    assert client_config(shared) == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "sasl.password": SECRET,
    }


def test_ssl_alone_with_system_cas_and_no_hostname_check() -> None:
    shared = settings(kafka_security_protocol="SSL", kafka_ssl_verify_hostname=False)
    assert client_config(shared) == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SSL",
        "ssl.endpoint.identification.algorithm": "none",
    }


def test_oauthbearer_uses_librdkafkas_oidc_client_credentials(tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n")
    shared = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_oauth_token_url="https://idp.example/oauth2/token",
        kafka_oauth_client_id="tuneline-writer",
        kafka_oauth_client_secret_file=secret_file,
        kafka_oauth_scope="kafka",
    )
    config = client_config(shared)
    assert {k: v for k, v in config.items() if k.startswith("sasl.")} == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
        "sasl.oauthbearer.client.id": "tuneline-writer",
        "sasl.oauthbearer.client.secret": SECRET,
        "sasl.oauthbearer.scope": "kafka",
    }
    assert "sasl.username" not in config and "sasl.password" not in config


def test_a_mounted_password_file_is_read_when_a_client_is_built(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first\n")
    shared = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="u",
        kafka_sasl_password_file=secret,
    )
    assert client_config(shared)["sasl.password"] == "first"
    secret.write_text("rotated\n")
    assert client_config(shared)["sasl.password"] == "rotated"


def test_the_settings_come_from_tuneline_kafka_variables(
    monkeypatch: pytest.MonkeyPatch, ca: LocalCa
) -> None:
    for name, value in {
        "TUNELINE_KAFKA_BOOTSTRAP": "kafka.internal:9094",
        "TUNELINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TUNELINE_KAFKA_SASL_MECHANISM": "PLAIN",
        "TUNELINE_KAFKA_SASL_USERNAME": "svc",
        "TUNELINE_KAFKA_SASL_PASSWORD": SECRET,
        "TUNELINE_KAFKA_SSL_CA_FILE": str(ca.ca),
        "TUNELINE_KAFKA_SSL_VERIFY_HOSTNAME": "false",
        "TUNELINE_KAFKA_WAIT_S": "15",
    }.items():
        monkeypatch.setenv(name, value)
    shared = SharedSettings()
    assert shared.kafka_wait_s == 15
    assert client_config(shared) == {
        "bootstrap.servers": "kafka.internal:9094",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "svc",
        "sasl.password": SECRET,
        "ssl.ca.location": str(ca.ca),
        "ssl.endpoint.identification.algorithm": "none",
    }
    # The dev stack's and the test session's broker: PLAINTEXT whatever this process's variables say.
    assert client_config(plaintext_settings("127.0.0.1:9")) == {
        "bootstrap.servers": "127.0.0.1:9",
        "security.protocol": "PLAINTEXT",
    }


def test_presets_add_to_the_connection_and_cannot_replace_it() -> None:
    shared = settings()
    assert producer_config(shared, {"linger.ms": 5}) == {
        **client_config(shared),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    }
    assert consumer_config(shared, "g", {"enable.auto.commit": False}) == {
        **client_config(shared),
        "group.id": "g",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    with pytest.raises(ValueError, match="'security.protocol' is a connection setting"):
        client_config(shared, {"security.protocol": "PLAINTEXT"})
    with pytest.raises(ValueError, match="'bootstrap.servers' is a connection setting"):
        producer_config(shared, {"bootstrap.servers": "elsewhere:9092"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs TUNELINE_KAFKA_SASL_MECHANISM"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN"},
            "SASL PLAIN needs TUNELINE_KAFKA_SASL_USERNAME",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "SCRAM-SHA-256",
                "kafka_sasl_username": "u",
            },
            "needs TUNELINE_KAFKA_SASL_PASSWORD or TUNELINE_KAFKA_SASL_PASSWORD_FILE",
        ),
        ({"kafka_sasl_mechanism": "PLAIN"}, "does not use SASL"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "OAUTHBEARER needs TUNELINE_KAFKA_OAUTH_TOKEN_URL and TUNELINE_KAFKA_OAUTH_CLIENT_ID",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": "CERT"},
            "TUNELINE_KAFKA_SSL_CERT_FILE and TUNELINE_KAFKA_SSL_KEY_FILE go together",
        ),
        ({"kafka_ssl_ca_file": "CA"}, "does not use TLS"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"},
            "is not a readable file",
        ),
        (
            {"kafka_security_protocol": "TLS"},
            "Input should be 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
            "Input should be 'PLAIN'",
        ),
    ],
)
def test_contradictory_or_incomplete_settings_are_refused_by_name(
    values: dict[str, Any], message: str, ca: LocalCa
) -> None:
    resolved = {k: {"CA": ca.ca, "CERT": ca.client.cert}.get(v, v) for k, v in values.items()}
    with pytest.raises(ValidationError, match=message):
        SharedSettings(**resolved)


def test_both_a_secret_and_a_secret_file_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "p"
    secret.write_text("x")
    with pytest.raises(ValidationError, match="TUNELINE_KAFKA_SASL_PASSWORD_FILE, not both"):
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="u",
            kafka_sasl_password="x",
            kafka_sasl_password_file=secret,
        )
    with pytest.raises(ValidationError, match="TUNELINE_KAFKA_OAUTH_CLIENT_SECRET_FILE, not both"):
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="OAUTHBEARER",
            kafka_oauth_token_url="https://idp.example/token",
            kafka_oauth_client_id="c",
            kafka_oauth_client_secret="x",
            kafka_oauth_client_secret_file=secret,
        )


def test_secrets_stay_out_of_reprs_descriptions_and_validation_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password=SECRET,
    )
    assert SECRET not in repr(shared) and SECRET not in str(shared)
    assert describe(shared) == {
        "bootstrap": "broker-1:9093,broker-2:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_username": "u",
    }
    monkeypatch.setenv("TUNELINE_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("TUNELINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")  # no mechanism: invalid
    with pytest.raises(ValidationError) as raised:
        SharedSettings()
    assert SECRET not in str(raised.value)


# --- Faust ---------------------------------------------------------------------------------------


def test_faust_gets_one_broker_url_per_bootstrap_server() -> None:
    assert faust_broker(settings()) == ["kafka://broker-1:9093", "kafka://broker-2:9093"]


def test_faust_ssl_credentials_trust_the_ca_and_present_the_client_certificate(ca: LocalCa) -> None:
    shared = settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=ca.ca,
        kafka_ssl_cert_file=ca.client.cert,
        kafka_ssl_key_file=ca.client.key,
    )
    credentials = faust_credentials(shared)
    assert isinstance(credentials, faust.SSLCredentials)
    context = credentials.context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "tuneline local CA"),),)]
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth == {"security_protocol": "SSL", "ssl_context": context}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_faust_sasl_credentials_over_tls(mechanism: str, ca: LocalCa) -> None:
    shared = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
        kafka_ssl_ca_file=ca.ca,
        kafka_ssl_verify_hostname=False,
    )
    credentials = faust_credentials(shared)
    assert isinstance(credentials, faust.SASLCredentials)
    auth = dict(credentials_to_aiokafka_auth(credentials))
    context = auth.pop("ssl_context")
    assert auth == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }
    assert isinstance(context, ssl.SSLContext) and not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert SECRET not in repr(credentials)


def test_faust_sasl_plaintext_has_no_tls_context() -> None:
    shared = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
    )
    auth = credentials_to_aiokafka_auth(faust_credentials(shared))
    assert auth["security_protocol"] == "SASL_PLAINTEXT" and auth["ssl_context"] is None


# --- OAUTHBEARER for Faust: a real HTTP token endpoint --------------------------------------------


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    requests: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            requests.append(urllib.parse.parse_qs(body))
            answer = orjson.dumps({"access_token": f"token-{len(requests)}", "expires_in": 3600})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/token", requests
    server.shutdown()
    server.server_close()


def test_faust_oauth_credentials_fetch_and_reuse_a_client_credentials_token(
    token_endpoint: tuple[str, list[dict[str, list[str]]]], tmp_path: Path
) -> None:
    url, requests = token_endpoint
    shared = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_oauth_token_url=url,
        kafka_oauth_client_id="tuneline-sanitizer",
        kafka_oauth_client_secret=SECRET,
        kafka_oauth_scope="kafka",
    )
    credentials = faust_credentials(shared)
    assert isinstance(credentials, faust.OAuthCredentials)
    provider = credentials.oauth_cb
    assert isinstance(provider, OidcTokenProvider) and SECRET not in repr(provider)

    async def twice() -> list[str]:
        return [await provider.token(), await provider.token()]

    assert asyncio.run(twice()) == ["token-1", "token-1"]  # reused until it nears expiry
    assert requests == [
        {
            "grant_type": ["client_credentials"],
            "client_id": ["tuneline-sanitizer"],
            "client_secret": [SECRET],
            "scope": ["kafka"],
        }
    ]
