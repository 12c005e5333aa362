"""Checks that turn a regex match into a finding: checksums, address parsing, entropy."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from typing import Final

_LOWER_RUN: Final = re.compile(r"[a-z]{4,}")


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_ok(number: str) -> bool:
    """A payment card number: a known issuer prefix and a valid Luhn checksum."""
    digits = "".join(c for c in number if c.isdigit())
    issuer = (
        digits[0] == "4"
        or 51 <= int(digits[:2]) <= 55
        or 2221 <= int(digits[:4]) <= 2720
        or digits[:2] in ("34", "37", "36", "38", "30", "35")
        or digits[:2] in ("60", "62", "64", "65")
    )
    return issuer and luhn_ok(digits)


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def ipv4_ok(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def ipv6_ok(candidate: str) -> bool:
    if candidate.count(":") < 2 or not any(c.isdigit() or c in "abcdefABCDEF" for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


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
