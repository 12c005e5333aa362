"""Entity types the sanitizer finds, grouped the way the quality benchmark reports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A found value: ``text[start:end]`` is an ``entity``. Never logged: it is the value itself."""

    start: int
    end: int
    entity: str
    score: float = 1.0


EMAIL: Final = "EMAIL"
PHONE: Final = "PHONE"
CREDIT_CARD: Final = "CREDIT_CARD"
IBAN: Final = "IBAN"
IP_ADDRESS: Final = "IP_ADDRESS"
US_SSN: Final = "US_SSN"
URL_CREDENTIALS: Final = "URL_CREDENTIALS"
AWS_ACCESS_KEY: Final = "AWS_ACCESS_KEY"
AWS_SECRET_KEY: Final = "AWS_SECRET_KEY"  # noqa: S105 - an entity type, not a secret
GITHUB_TOKEN: Final = "GITHUB_TOKEN"  # noqa: S105 - an entity type, not a secret
SLACK_TOKEN: Final = "SLACK_TOKEN"  # noqa: S105 - an entity type, not a secret
STRIPE_KEY: Final = "STRIPE_KEY"
GOOGLE_API_KEY: Final = "GOOGLE_API_KEY"
JWT: Final = "JWT"
PRIVATE_KEY: Final = "PRIVATE_KEY"
PASSWORD: Final = "PASSWORD"  # noqa: S105 - an entity type, not a secret
SECRET: Final = "SECRET"  # noqa: S105 - an entity type, not a secret
PERSON: Final = "PERSON"

STRUCTURED: Final = frozenset({EMAIL, PHONE, CREDIT_CARD, IBAN, IP_ADDRESS, US_SSN, URL_CREDENTIALS})
SECRETS: Final = frozenset(
    {
        AWS_ACCESS_KEY,
        AWS_SECRET_KEY,
        GITHUB_TOKEN,
        SLACK_TOKEN,
        STRIPE_KEY,
        GOOGLE_API_KEY,
        JWT,
        PRIVATE_KEY,
        PASSWORD,
        SECRET,
    }
)
NAMES: Final = frozenset({PERSON})
ALL_ENTITIES: Final = STRUCTURED | SECRETS | NAMES


def category(entity: str) -> str:
    if entity in STRUCTURED:
        return "structured"
    if entity in SECRETS:
        return "secrets"
    if entity in NAMES:
        return "names"
    return "other"
