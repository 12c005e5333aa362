"""The Faust app's side of the one Kafka client builder: broker URLs and credentials (TLS, SASL
PLAIN/SCRAM, OAUTHBEARER) from the same shared settings as ``libs.common.kafka``.

Only the sanitizer runs Faust, so only it imports this module (and Faust and aiokafka with it).
"""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT

from libs.common.kafka_oauth import OidcTokenProvider
from libs.common.settings import SharedSettings


def faust_broker(shared: SharedSettings) -> list[str]:
    """Faust's ``broker`` setting: one ``kafka://host:port`` URL per bootstrap server."""
    return [f"kafka://{server.strip()}" for server in shared.kafka_bootstrap.split(",") if server.strip()]


def ssl_context(shared: SharedSettings) -> ssl.SSLContext:
    """The TLS context aiokafka connects with: the CA (else the system's), the client certificate when
    set, hostname verification as configured (the certificate is verified in any case)."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH,
        cafile=str(shared.kafka_ssl_ca_file) if shared.kafka_ssl_ca_file is not None else None,
    )
    if shared.kafka_ssl_cert_file is not None and shared.kafka_ssl_key_file is not None:
        context.load_cert_chain(
            shared.kafka_ssl_cert_file,
            shared.kafka_ssl_key_file,
            password=shared.kafka_ssl_key_password_value(),
        )
    context.check_hostname = shared.kafka_ssl_verify_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def faust_credentials(shared: SharedSettings) -> CredentialsT | None:
    """Faust's ``broker_credentials``: None for PLAINTEXT, else SSL, SASL (PLAIN/SCRAM) or OAuth
    credentials carrying the TLS context for the ``*SSL`` protocols."""
    context = ssl_context(shared) if shared.kafka_uses_tls else None
    if not shared.kafka_uses_sasl:
        return faust.SSLCredentials(context) if context is not None else None
    if shared.kafka_sasl_mechanism == "OAUTHBEARER":
        secret = shared.kafka_oauth_client_secret_value()
        assert shared.kafka_oauth_token_url and shared.kafka_oauth_client_id and secret  # noqa: S101 - validated
        provider = OidcTokenProvider(
            shared.kafka_oauth_token_url, shared.kafka_oauth_client_id, secret, shared.kafka_oauth_scope
        )
        return faust.OAuthCredentials(oauth_cb=provider, ssl_context=context)
    return faust.SASLCredentials(
        username=shared.kafka_sasl_username,
        password=shared.kafka_sasl_password_value(),
        ssl_context=context,
        mechanism=shared.kafka_sasl_mechanism,
    )
