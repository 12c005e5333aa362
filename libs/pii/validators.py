"""Checks that turn a regex match into a finding: checksums, address parsing, entropy."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from typing import Final

_LOWER_RUN: Final = re.compile(r"[a-z]{4,}")
_MAESTRO: Final = frozenset({"50", *(str(p) for p in range(56, 70))})


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


_FOUR_FOUR_FOUR: Final = re.compile(r"\d{4}([ -])\d{4}\1\d{4}")


def card_ok(number: str) -> bool:
    """A payment card number: a known issuer prefix and a valid Luhn checksum. Twelve digits only for
    Maestro (50, 56-69), written in three groups of four: a bare run that short is an id as often."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) == 12 and not (_FOUR_FOUR_FOUR.fullmatch(number) and digits[:2] in _MAESTRO):
        return False
    issuer = (
        digits[0] == "4"
        or 50 <= int(digits[:2]) <= 69  # Mastercard 51-55, Dankort 5019, Maestro 50 and 56-69, Discover...
        or 2221 <= int(digits[:4]) <= 2720
        or digits[:2] in ("34", "37", "36", "38", "30", "35")
        or (digits[0] == "1" and len(digits) == 15)  # UATP
    )
    return issuer and luhn_ok(digits)


# The length of an IBAN in each country that issues them (SWIFT's IBAN registry); other countries:
# anything from 15 to 34 characters.
IBAN_LENGTHS: Final = {
    **dict.fromkeys(("NO",), 15),
    **dict.fromkeys(("BE",), 16),
    **dict.fromkeys(("DK", "FI", "FO", "GL", "NL", "SD", "FK"), 18),
    **dict.fromkeys(("MK", "SI"), 19),
    **dict.fromkeys(("AT", "BA", "EE", "KZ", "LT", "LU", "XK", "MN"), 20),
    **dict.fromkeys(("CH", "HR", "LI", "LV"), 21),
    **dict.fromkeys(("BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"), 22),
    **dict.fromkeys(("AE", "GI", "IL", "IQ", "TL", "SO", "OM"), 23),
    **dict.fromkeys(("AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"), 24),
    **dict.fromkeys(("LY", "PT", "ST"), 25),
    **dict.fromkeys(("IS", "TR"), 26),
    **dict.fromkeys(("FR", "GR", "IT", "MC", "MR", "SM", "BI", "DJ"), 27),
    **dict.fromkeys(("AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV", "NI", "HN"), 28),
    **dict.fromkeys(("BR", "EG", "PS", "QA", "UA"), 29),
    **dict.fromkeys(("JO", "KW", "MU", "YE"), 30),
    **dict.fromkeys(("MT", "SC"), 31),
    **dict.fromkeys(("LC",), 32),
    **dict.fromkeys(("RU",), 33),
}


def iban_ok(candidate: str) -> bool:
    """Mod 97 of the rearranged value, at its country's length (spaces and dashes between groups)."""
    compact = candidate.replace(" ", "").replace("-", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    if len(compact) != IBAN_LENGTHS.get(compact[:2], len(compact)):
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def _prefix_ok(candidate: str, bits: int) -> tuple[str, bool]:
    """Split ``address/prefix`` (a network in CIDR notation); the prefix must fit the address."""
    address, slash, prefix = candidate.partition("/")
    return address, not slash or (prefix.isdigit() and int(prefix) <= bits)


def ipv4_ok(candidate: str) -> bool:
    address, prefix_ok = _prefix_ok(candidate, 32)
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return prefix_ok


def ipv6_ok(candidate: str) -> bool:
    address, prefix_ok = _prefix_ok(candidate, 128)
    if address.count(":") < 2 or not any(c.isdigit() or c in "abcdefABCDEF" for c in address):
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return prefix_ok


def shannon_entropy(text: str) -> float:
    """Bits per character of the string's own character distribution."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(token: str, min_length: int, min_entropy: float, max_worded: float = 0.4) -> bool:
    """A generic secret: long, mixing upper case, lower case and digits, high entropy, not made of
    words (identifiers, paths), not hex (hashes and ids are not secrets)."""
    core = token.rstrip("=")
    if len(core) < min_length:
        return False
    if not (any(c.isupper() for c in core) and any(c.islower() for c in core)):
        return False
    if not any(c.isdigit() for c in core):
        return False
    if all(c in "0123456789abcdefABCDEF-" for c in core):
        return False
    if core.startswith("/") or "//" in core:
        return False
    worded = sum(len(m) for m in _LOWER_RUN.findall(core))
    if worded > max_worded * len(core):
        return False
    return shannon_entropy(core) >= min_entropy
