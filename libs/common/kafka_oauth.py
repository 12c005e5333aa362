"""SASL OAUTHBEARER for Faust (aiokafka): tokens from an OIDC endpoint by the client-credentials grant.

librdkafka does this itself (``sasl.oauthbearer.method=oidc``); aiokafka asks a token provider, and
this is the one ``libs.common.kafka.faust_credentials`` gives it, from the same settings.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import urllib.request

import orjson
from aiokafka.abc import AbstractTokenProvider  # type: ignore[import-untyped]

# A token is renewed this long before it expires, so that a connection never presents a stale one.
_RENEW_MARGIN_S = 60.0


class OidcTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        if urllib.parse.urlsplit(token_url).scheme not in ("https", "http"):
            raise ValueError(f"TUNELINE_KAFKA_OAUTH_TOKEN_URL must be an http(s) URL: {token_url!r}")
        self._url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"<OidcTokenProvider {self._url} client_id={self._client_id}>"

    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at - _RENEW_MARGIN_S:
                return self._token
            token, lifetime_s = await asyncio.to_thread(self.fetch)
            self._token, self._expires_at = token, time.monotonic() + lifetime_s
            return token

    def fetch(self) -> tuple[str, float]:
        """One token request: (access token, lifetime in seconds)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret,
        }
        if self._scope:
            form["scope"] = self._scope
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = orjson.loads(response.read())
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RuntimeError(f"the OIDC endpoint {self._url} answered without an access_token")
        return token, float(body.get("expires_in", 300))
