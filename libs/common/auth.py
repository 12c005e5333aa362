"""The bearer token of tuneline's HTTP APIs (the admin API, the model server): parsing the header,
comparing in constant time, and refusing to start with a missing or placeholder token (the only way to
run without auth is an explicit insecure dev flag)."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Final

MIN_TOKEN_LENGTH: Final = 16
# A token made mostly of these words ("change-me-change-me", "admin-secret-2024") is a placeholder, whatever
# its length: what is left without them and without punctuation must still look like a token on its own.
PLACEHOLDER_WORDS: Final = (
    "changeme",
    "changethis",
    "replaceme",
    "password",
    "secret",
    "token",
    "admin",
    "default",
    "example",
    "dummy",
    "test",
    "dev",
)
_WORDS: Final = re.compile("|".join(PLACEHOLDER_WORDS))
_NOT_ALNUM: Final = re.compile("[^a-z0-9]")
_MIN_RANDOM_PART: Final = 8


class TokenConfigError(ValueError):
    """The token cannot be used: missing, unreadable, empty or weak (the message never holds it)."""


_GENERATE_HINT: Final = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of ``Bearer <token>``; None for a missing, malformed or other-scheme header."""
    if authorization_header is None:
        return None
    parts = authorization_header.strip().split(" ")
    if len(parts) != 2:
        return None
    scheme, token = parts
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    return token


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty expected token matches nothing."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _weakness(token: str) -> str | None:
    if len(token) < MIN_TOKEN_LENGTH:
        return f"shorter than {MIN_TOKEN_LENGTH} characters"
    if any(c.isspace() for c in token):
        return "contains whitespace (it could not be sent in an Authorization header)"
    alnum = _NOT_ALNUM.sub("", token.lower())
    rest = _WORDS.sub("", alnum)
    if len(rest) < _MIN_RANDOM_PART or len(set(rest)) < 6 or (rest != alnum and rest.isdigit()):
        return "looks like a placeholder"
    return None


def load_admin_token(value: str | None, file: Path | None, insecure_dev: bool) -> str | None:
    """The admin token from ``file`` (preferred: keeps it out of the environment) or ``value``.

    None means "no auth" and is only returned with ``insecure_dev``. Raises TokenConfigError for an
    unreadable or empty file, a missing token, or a weak one (never echoing the token itself); a weak
    token is refused even with ``insecure_dev``: a dev stack without auth leaves the token unset.
    """
    if file is not None:
        try:
            token = file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenConfigError(f"cannot read the admin token file {file}: {exc}") from exc
        if not token:
            raise TokenConfigError(f"the admin token file {file} is empty")
    else:
        token = (value or "").strip()
        if not token:
            if insecure_dev:
                return None
            raise TokenConfigError(
                f"no admin token: set TUNELINE_ADMIN_TOKEN or TUNELINE_ADMIN_TOKEN_FILE; {_GENERATE_HINT}"
            )
    weakness = _weakness(token)
    if weakness:
        raise TokenConfigError(f"the admin token is too weak: {weakness}; {_GENERATE_HINT}")
    return token
