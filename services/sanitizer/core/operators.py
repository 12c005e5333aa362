"""Replacement values that need a key: the typed pseudonym and the keyed hash (pure functions).

Presidio's anonymizer engine runs them as custom operators (``adapters.presidio``), next to its own
``mask``, ``encrypt`` and ``keep``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from libs.pii import entities as E

_SPACES: Final = re.compile(r"\s+")
_NOT_DIGIT: Final = re.compile(r"\D")


def canonical(entity: str, value: str) -> str:
    """The form two spellings of one value share, so they get one token (``A@X.com`` = ``a@x.com``)."""
    if entity == E.EMAIL:
        return value.strip().lower()
    if entity in (E.PHONE, E.CREDIT_CARD, E.US_SSN):
        digits = _NOT_DIGIT.sub("", value)
        return digits.lstrip("0") if entity == E.PHONE else digits
    if entity == E.IBAN:
        return value.replace(" ", "").upper()
    if entity == E.PERSON:
        return _SPACES.sub(" ", value.strip()).casefold()
    return value


def pseudonym(entity: str, value: str, key: bytes, hex_chars: int = 8) -> str:
    """``<ENTITY_1a2b3c4d>``: HMAC-SHA256 of the canonical value; same value, same token, everywhere."""
    digest = hmac.new(key, f"{entity}\x00{canonical(entity, value)}".encode(), hashlib.sha256).hexdigest()
    return f"<{entity}_{digest[:hex_chars]}>"


def keyed_hash(entity: str, value: str, key: bytes) -> str:
    """The full keyed SHA-256 hex of the canonical value (joins, not for reading)."""
    return hmac.new(key, f"{entity}\x00{canonical(entity, value)}".encode(), hashlib.sha256).hexdigest()


def redacted(entity: str) -> str:
    return f"<{entity}>"


def masked(value: str, keep_last: int = 4, char: str = "*") -> str:
    """Every letter and digit but the last ``keep_last`` replaced, separators kept."""
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    hide = set(positions[: max(0, len(positions) - keep_last)])
    return "".join(char if i in hide else c for i, c in enumerate(value))
