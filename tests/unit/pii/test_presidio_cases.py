"""Values that Presidio's own recognizer tests expect and tuneline used to miss or relabel
(benchmarks/presidio_suite), with the decoys that must stay untouched next to each fix."""

from __future__ import annotations

import pytest

from libs.pii import entities as E
from libs.pii import validators as V
from libs.pii.detect import resolve
from libs.pii.names import NameFinder
from libs.pii.patterns import PatternDetector
from libs.pii.policy import DetectPolicy


def found(text: str) -> list[tuple[str, str]]:
    spans = resolve(PatternDetector(DetectPolicy()).find(text))
    return [(s.entity, text[s.start : s.end]) for s in spans]


def names(text: str) -> list[str]:
    finder = NameFinder(None, window_words=3)
    return [text[s.start : s.end] for s in finder.find_batch([text], [[]])[0]]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        # an IBAN followed by an upper-case word or a stray letter, or written with dashes
        ("AL47212110090000000235698741 ALL CAPS", E.IBAN, "AL47212110090000000235698741"),
        ("iban VG96 VPVG 0000 0123 4567 8901 X here", E.IBAN, "VG96 VPVG 0000 0123 4567 8901"),
        ("pay to AL47-2121-1009-0000-0002-3569-8741", E.IBAN, "AL47-2121-1009-0000-0002-3569-8741"),
        # IPv6 at the end of a sentence, and networks in CIDR notation
        ("Server IP: 2001:db8::1.", E.IP_ADDRESS, "2001:db8::1"),
        ("Server IP: 2400:c401::5054:ff:fe1b:b031.", E.IP_ADDRESS, "2400:c401::5054:ff:fe1b:b031"),
        ("route fe80::/10 via eth0", E.IP_ADDRESS, "fe80::/10"),
        ("allow 203.0.113.0/24", E.IP_ADDRESS, "203.0.113.0/24"),
        # Luhn-valid UATP, Dankort and Maestro numbers
        ("my credit card: 122000000000003", E.CREDIT_CARD, "122000000000003"),
        ("dankort 5019717010103742", E.CREDIT_CARD, "5019717010103742"),
        ("maestro 6759649826438453", E.CREDIT_CARD, "6759649826438453"),
        ("maestro 6759 0000 0000", E.CREDIT_CARD, "6759 0000 0000"),  # twelve digits, grouped
        # e-mail addresses on internationalized (punycode) domains
        ("write to a@xn--d1acufc.xn--p1ai", E.EMAIL, "a@xn--d1acufc.xn--p1ai"),
        ("my email is user@xn--80ak6aa92e.com today", E.EMAIL, "user@xn--80ak6aa92e.com"),
        # Turkish mobiles: international, national, and grouped with dots
        ("+90 532 123 45 67", E.PHONE, "+90 532 123 45 67"),
        ("Cep no: 05321234567", E.PHONE, "05321234567"),
        ("532.123.45.67", E.PHONE, "532.123.45.67"),
        ("Phone: 5321234567", E.PHONE, "5321234567"),
        # an SSN with dots
        ("ssn 078.05.1123", E.US_SSN, "078.05.1123"),
    ],
)
def test_presidio_values_found(text: str, entity: str, value: str) -> None:
    assert (entity, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        # invalid IBANs are not phone numbers or card numbers either
        "AT61 1904 3002 3457 320",
        "BE71 0961 2345 6760",
        "DE89 3704 0044 0532 0130 01",
        "HR12 001 0051 8630 0016 A",
        "GI75 aWBK 0000 0000 7099 453",
        "JO94 CBJO 0010 0000 0000 0131 0003 03",  # no valid IBAN hides in a prefix of the wrong length
        # invalid SSNs are not phone numbers
        "078-05-0000",
        "078 00 1123",
        "693-09.4444",
        "000000000",
        # an invalid card number after "card number" is not a phone number
        "my credit card number is 36168002586008",
        # not an address: four dotted groups of up to three digits, and five parts
        "256.256.256.256",
        # twelve Luhn-valid digits in one run are an id (an AWS account number), not a Maestro card
        "account 675900000000",
    ],
)
def test_invalid_values_are_not_relabelled(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "order 4829103342 shipped",
        "deployed v2.14.3 (version 1.2.3.4, release 10.0.1.2) build 88123",
        "order ORD-2024-88231 and PO123456",
        "2025-03-14T09:26:53.589Z INFO request done in 350ms status=200",
        "listening on 0.0.0.0:8080 and 127.0.0.1 and [::]:443",
        "route ::/0 and 0.0.0.0/0 are defaults",
        "ticket INC-20412 and JIRA-1234",
        "Release May 2025 is out.",
    ],
)
def test_decoys_still_stay(text: str) -> None:
    assert found(text) == []
    assert names(text) == []


def test_iban_lengths_are_per_country() -> None:
    assert V.iban_ok("GB82 WEST 1234 5698 7654 32")
    assert not V.iban_ok("GB82 WEST 1234 5698 7654 3")  # 21 characters: no British IBAN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Mayers", ["Mayers"]),
        ("They call me Mr. Mayers", ["Mayers"]),
        ("They call me Mr. May", ["May"]),
        ("Dr. Ng called back", ["Ng"]),
        ("Dan May has a bank account.", ["Dan May"]),
        ("Richard M. Nixon", ["Richard M. Nixon"]),
    ],
)
def test_titles_with_a_full_stop_and_initials(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_a_code_before_a_phone_number_is_no_iban_shape() -> None:
    assert found("flight UA12 call 415 555 0132") == [(E.PHONE, "415 555 0132")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ping Dr. Will tomorrow", ["Will"]),  # the title is not part of the name
        ("Mr Smith called", ["Smith"]),
        ("We met in St. Louis yesterday", []),  # Saint is no title of a person
    ],
)
def test_titles_are_cues_not_names(text: str, expected: list[str]) -> None:
    assert names(text) == expected
