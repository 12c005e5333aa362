"""Every recognizer finds its values, and the keep-list (timestamps, versions, durations, status
codes, ticket and order numbers, hashes, ids, ordinary words) survives."""

from __future__ import annotations

import pytest

from libs.pii import entities as E
from libs.pii.detect import Detector, resolve
from libs.pii.patterns import PatternDetector
from libs.pii.policy import DetectPolicy, NamesPolicy
from services.sanitizer.core.policy import SanitizerPolicy


def found(text: str, policy: DetectPolicy | None = None) -> list[tuple[str, str]]:
    spans = resolve(PatternDetector(policy or DetectPolicy()).find(text))
    return [(s.entity, text[s.start : s.end]) for s in spans]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("mail me at Jane.Doe+tag@mail.example.co.uk today", E.EMAIL, "Jane.Doe+tag@mail.example.co.uk"),
        ("call (415) 555-0134 now", E.PHONE, "(415) 555-0134"),
        ("call 415-555-0134x123 now", E.PHONE, "415-555-0134x123"),
        ("ruf +49 (0)30 1234567 an", E.PHONE, "+49 (0)30 1234567"),
        ("appelle le +33 6 86 91 25 98", E.PHONE, "+33 6 86 91 25 98"),
        ("tel 0221 1234567", E.PHONE, "0221 1234567"),
        ("my number is 3513374898 ok", E.PHONE, "3513374898"),
        ("contact: 0019933159)", E.PHONE, "0019933159"),
        ("card 4111 1111 1111 1111 declined", E.CREDIT_CARD, "4111 1111 1111 1111"),
        ("amex 378282246310005", E.CREDIT_CARD, "378282246310005"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", E.IBAN, "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432", E.IBAN, "GB82WEST12345698765432"),
        ("from 203.0.113.9 port 22", E.IP_ADDRESS, "203.0.113.9"),
        ("client=2001:db8::8a2e:370:7334 ok", E.IP_ADDRESS, "2001:db8::8a2e:370:7334"),
        ("ssn 123-45-6789 on file", E.US_SSN, "123-45-6789"),
        ("dsn=postgres://admin:S3cr3t@db.internal:5432/app", E.URL_CREDENTIALS, "admin:S3cr3t"),
        ("key AKIAIOSFODNN7EXAMPLE used", E.AWS_ACCESS_KEY, "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            E.AWS_SECRET_KEY,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            E.GITHUB_TOKEN,
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        ),
        ("SLACK=xoxb-123456789012-AbCdEfGhIjKlMnOp", E.SLACK_TOKEN, "xoxb-123456789012-AbCdEfGhIjKlMnOp"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", E.STRIPE_KEY, "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        (
            "maps AIzaSyA1234567890abcdefghijklmnopqrstuv",
            E.GOOGLE_API_KEY,
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        (
            "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            E.JWT,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("password=hunter2 pool=5", E.PASSWORD, "hunter2"),
        ('smtp_password: "p@ss w(rd)!"', E.PASSWORD, "p@ss w(rd)!"),
        ("Server=db;User Id=sa;Password=Tr0ub4dor&3x;", E.PASSWORD, "Tr0ub4dor&3x"),
        ("PGPASSWORD=Sup3rSecret1 psql", E.PASSWORD, "Sup3rSecret1"),
        ("export dbpassword=Sup3rSecret1", E.PASSWORD, "Sup3rSecret1"),
        ("adminpass=Sup3rSecret1", E.PASSWORD, "Sup3rSecret1"),
        ("password=ab&cd(ef)gh! next", E.PASSWORD, "ab&cd(ef)gh!"),
        ("GET /login?user=ann&password=x1y2z3&next=/home", E.PASSWORD, "x1y2z3"),
        ("(password=hunter22), retry", E.PASSWORD, "hunter22"),
        ("client_secret: 9f8e7d6c5b4a", E.SECRET, "9f8e7d6c5b4a"),
        ("Authorization: Bearer abcdefghijklmnop1234", E.SECRET, "abcdefghijklmnop1234"),
        ("use Zx8qL2mN7pR4tV6wY9aB3cD5 for staging", E.SECRET, "Zx8qL2mN7pR4tV6wY9aB3cD5"),
    ],
)
def test_recognizer_finds_value(text: str, entity: str, value: str) -> None:
    assert (entity, value) in found(text)


def test_private_key_block_is_one_span() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc/def+==\n-----END RSA PRIVATE KEY-----"
    assert found(f"deploy key:\n{block}\nthanks") == [(E.PRIVATE_KEY, block)]


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-14T09:26:53.589Z INFO request done in 350ms status=200",
        "Mar 14 09:26:53 host kernel: took 1.25s, retries 3",
        "14/Mar/2025:09:26:53 +0000 GET /api/v2/orders/12345 HTTP/1.1 503",
        "deployed v2.14.3 (version 1.2.3.4, release 10.0.1.2) build 88123",
        "ticket INC-20412 and JIRA-1234, see #48213 and SUP-9981",
        "order ORD-2024-88231 and PO123456 and order 4829103342",
        "req=550e8400-e29b-41d4-a716-446655440000 commit 16fdaeeb975729fae923d5a4fd12aabfe228f219",
        "pod payments-7d9f8c6b5-x2x9z on kafka-2:9092 uptime 00:03:12",
        "class PaymentServiceImplementationFactoryBean threw NullPointerException",
        "path /usr/local/lib/python3.11/site-packages/PaymentsClient2Module",
        "latency p99 1234 ms at 99.95% availability, 1 048 576 bytes",
        "password=*** token=<redacted> secret=${VAULT_SECRET}",
        "listening on 0.0.0.0:8080 and 127.0.0.1",
        "bypass: enabled, compass: north, surpass=forecast",
    ],
)
def test_keep_list_survives(text: str) -> None:
    assert found(text) == []


def test_allow_list_and_kept_ips() -> None:
    policy = DetectPolicy(allow_list=("support@example.com",), keep_ips=("10.0.0.1",))
    assert found("write to support@example.com from 10.0.0.1", policy) == []


def test_overlaps_keep_the_most_specific() -> None:
    # the URL credentials win over the e-mail-looking "pw@db.example.com"
    assert found("mysql://app:pw@db.example.com/x") == [(E.URL_CREDENTIALS, "app:pw")]


def test_detector_without_names() -> None:
    detector = Detector(SanitizerPolicy(names=NamesPolicy(enabled=False)))
    assert [s.entity for s in detector.detect("Dear Anna Smith, mail a@b.io")] == [E.EMAIL]
