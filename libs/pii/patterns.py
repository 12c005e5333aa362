"""Pattern recognizers for structured PII and secrets: a regex, a cheap pre-check and a validator.

The pre-check (a substring or a character class that must occur) skips most rules on most texts, so
a clean log line costs a handful of ``in`` tests. Validators (Luhn, IBAN mod 97, address parsing,
entropy) keep look-alikes such as order numbers, versions, timestamps and hashes out.
Nothing here recognizes dates, times, durations or plain numbers: those are not personal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from libs.pii import entities as E
from libs.pii import validators as V
from libs.pii.entities import Span
from libs.pii.policy import DetectPolicy


@dataclass(frozen=True)
class PatternRule:
    """One recognizer: ``regex`` group ``group`` is a value of ``entity`` when ``validate`` agrees."""

    name: str
    entity: str
    regex: re.Pattern[str]
    precheck: Callable[[str], bool]
    group: int | tuple[str, ...] = 0  # several names: the first that matched
    validate: Callable[[str], bool] | None = None
    priority: int = 50  # the higher wins where two findings overlap
    score: float = 0.9
    # (text, match, start, end) -> a new end for the value, before validation
    value_end: Callable[[str, re.Match[str], int, int], int] | None = None
    # (text, match) -> whether the match's surroundings allow it (e.g. no order number cue before it)
    accept: Callable[[str, re.Match[str]], bool] | None = None
    # A match that fails validation still claims its characters from these entities' lower-priority
    # rules: an invalid IBAN is not a phone number nor a card number, it is an invalid IBAN (left alone).
    shield: frozenset[str] = frozenset()


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda text: any(n in text for n in needles)


def _has_ci(*needles: str) -> Callable[[str], bool]:
    lowered = tuple(n.lower() for n in needles)
    return lambda text: any(n in text.lower() for n in lowered)


_DIGITS: Final = re.compile(r"\d")
_DIGIT_RUN: Final = re.compile(r"\d{2}")


def _digits(text: str) -> bool:
    return _DIGIT_RUN.search(text) is not None


def _digit(text: str) -> bool:
    return _DIGITS.search(text) is not None


# Key names may carry a word prefix (PGPASSWORD, db_password, adminpass); a bare "pass" that ends an
# ordinary word (bypass, compass, surpass, trespass, overpass, underpass) is not a key.
_PW_KEYS: Final = r"pass(?:word|wd|phrase)|(?<!by)(?<!com)(?<!sur)(?<!tres)(?<!over)(?<!under)pass|pwd"
_PAIR_NAMES: Final = (
    _PW_KEYS + r"|secret(?:[_-]?key)?|client[_-]?secret|api[_-]?key|apikey|"
    r"(?:access|auth|refresh|session|bearer|private|api)[_-]?token|token|auth|credentials?|"
    r"private[_-]?key|access[_-]?key(?:[_-]?id)?|secret[_-]?access[_-]?key"
)
# A quoted value whole; an unquoted one up to whitespace or ";" (``_pair_value_end`` trims it).
_PAIR_VALUE: Final = r"""(?:"(?P<dq>[^"\n]{3,200})"|'(?P<sq>[^'\n]{3,200})'|(?P<value>[^\s"';]{3,200}))"""
_PAIR_SEPARATOR: Final = r"(?:\"|')?\s*(?:[:=]|=>)\s*"
_PW_SEPARATOR: Final = r"(?:\"|')?\s*(?:[:=]|=>|\bis\b)\s*"
_KEY_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[]")
_CLOSING: Final = {")": "(", "]": "[", "}": "{"}


def _pair_value_end(text: str, match: re.Match[str], start: int, end: int) -> int:
    """Where an unquoted ``key=value`` value ends: at ``&`` or ``#`` in a query string
    (``?a=1&password=x&b=2``), before a trailing comma or an unbalanced closing bracket."""
    if match.start("value") != start:
        return end  # quoted: whole
    i, floor = match.start(), max(0, match.start() - 64)
    while i > floor and text[i - 1] in _KEY_CHARS:  # back over the key's prefix
        i -= 1
    if i > 0 and text[i - 1] in "?&":
        cuts = [p for p in (text.find("&", start, end), text.find("#", start, end)) if p >= 0]
        end = min(cuts, default=end)
    value = text[start:end]
    balance = {close: value.count(close) - value.count(open_) for close, open_ in _CLOSING.items()}
    while end > start:
        last = text[end - 1]
        if last == ",":
            end -= 1
        elif balance.get(last, 0) > 0:
            balance[last] -= 1
            end -= 1
        else:
            break
    return end


# Values after `password=` that are placeholders, not secrets.
_PLACEHOLDERS: Final = frozenset(
    {
        "null",
        "none",
        "nil",
        "true",
        "false",
        "***",
        "****",
        "*****",
        "xxx",
        "redacted",
        "<redacted>",
        "changeme?",
        "required",
        "optional",
        "string",
        "empty",
        "hidden",
        "masked",
        "yes",
        "no",
    }
)


def _not_placeholder(value: str) -> bool:
    lowered = value.lower()
    if lowered in _PLACEHOLDERS or set(value) <= {"*", "x", "X", "#", "."}:
        return False
    return not (value.startswith("${") or value.startswith("{{") or value.startswith("%("))


# Bare digit runs are phone numbers only in a phone context: a cue word, then at most three words
# ("call me at", "reach me anytime on", "my cell is", "WhatsApp:"), then 9 to 15 digits (an optional
# "+"). Without a cue a bare run stays: it may be an order number. A decoy cue (order, ticket, invoice,
# id...) among the three words before the cue or between cue and digits wins: "order number
# 4829103342", "call about ticket 4829103342" stay. Runs that read as epoch seconds or milliseconds
# (10 or 13 digits starting with 1: never a NANP number) stay too.
_PHONE_CUES: Final = (
    r"phone|telephone|tel|mobile|mob|cell|cellphone|fax|whatsapp|signal|sms|text|texting|call|called|"
    r"calling|ring|reach|reachable|contact|dial|number|ph|hotline|landline"
)
_PHONE_CUE_PRECHECK: Final = (
    "@", "phone", "tel", "mob", "cell", "fax", "whatsapp", "signal", "sms", "text", "call", "ring", "reach",
    "contact", "dial", "number", "ph", "hotline", "landline",
)  # fmt: skip
# The digit run first (rare), then its context: the cue must end the text right before it.
_PHONE_CONTEXT: Final = re.compile(
    r"(?<![\w+])(?P<value>\+?\d{9,15}(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5})?)(?!\w|[.,:/-]\d)"
)
_PHONE_CUE_BEFORE: Final = re.compile(
    r"(?i)(?:\b(?:" + _PHONE_CUES + r")\b(?P<gap>(?:[ \t]+[a-z'’]+){0,3})"
    # or right after an e-mail address, as in a contact line: "(ann@example.com, 4492472477)"
    r"|[\w.+-]@[\w-]+(?:\.[\w-]+)+[ \t]*[,/;|])[ \t]*[.:#]?[ \t]{0,2}\Z"
)
_PHONE_DECOYS: Final = frozenset(
    (
        "order orders ticket tickets invoice invoices id ids ref reference case account acct tracking "
        "build version release po sku serial transaction txn confirmation booking item items part "
        "timestamp ts epoch time millis ms seconds duration count total amount pin code otp zip of bytes "
        "rows records events requests messages users card cards credit debit iban ssn social"
    ).split()
)
_WORDS_BEFORE: Final = re.compile(r"[a-z'’]+")
_SENTENCE_BREAK: Final = re.compile(r"[.!?;]\s")


def _phone_context_ok(text: str, match: re.Match[str]) -> bool:
    value = re.split(r"[^\d+]", match.group("value"))[0].lstrip("+")
    if len(set(value)) == 1:
        return False  # 000000000: a placeholder
    if len(value) in (10, 13) and value.startswith("1") and not match.group("value").startswith("+"):
        return False  # epoch seconds or milliseconds; no NANP number starts with 1 without its +1
    line_start = text.rfind("\n", 0, match.start()) + 1
    window = text[max(line_start, match.start() - 80) : match.start()]
    cue = _PHONE_CUE_BEFORE.search(window)
    if cue is None:
        return False
    gap = (cue.group("gap") or "").lower().split()
    sentence = _SENTENCE_BREAK.split(window[max(0, cue.start() - 40) : cue.start()])[-1]
    before = _WORDS_BEFORE.findall(sentence.lower())[-3:]
    return not any(w in _PHONE_DECOYS for w in gap + before)


# A US-style number glued to the word before it, a space left out ("my other one is415-555-0132"): the
# full 3-3-4 grouping with one separator repeated is evidence enough. The first digit is matched
# before the look-behind so the scan skips to digits.
_PHONE_GLUED: Final = re.compile(r"[2-9](?<=[a-z]{2}[2-9])\d\d(?P<sep>[-. ])\d{3}(?P=sep)\d{4}(?![\w-]|\.\d)")
_WORD_START: Final = frozenset(" \t\n\r\"'(“‘[")


def _after_a_word(text: str, match: re.Match[str]) -> bool:
    """The letters before the number are a whole lower-case word, not the tail of a code or a key
    (``ab12cd415-555-0132``, ``key=abc415-555-0132``)."""
    i = match.start()
    while i > 0 and "a" <= text[i - 1] <= "z":
        i -= 1
    return i == 0 or text[i - 1] in _WORD_START


# A text that is nothing but ten digits (a chat reply, a form's content): with no context to say
# otherwise, a number valid in the US (NANP) or Turkish national plan is read as a phone number. In a
# sentence the same run stays (an order number as often as not) unless a phone cue is near.
_PHONE_ALONE: Final = re.compile(r"\A\s*(?P<value>[2-9]\d{9})\s*\Z")
_NANP: Final = re.compile(r"[2-9][0-8]\d[2-9]\d{6}")
_NANP_N11: Final = re.compile(r"\d11|\d{3}\d11")  # area code or exchange ending 11: service codes
_TR_NATIONAL: Final = re.compile(r"[2-5]\d{9}")  # geographic 2xx-4xx, mobile 5xx


def _national_ten_digits(value: str) -> bool:
    if len(set(value)) <= 2:
        return False  # 2222222222, 5050505050: placeholders
    nanp = _NANP.fullmatch(value) is not None and not _NANP_N11.match(value)
    return nanp or _TR_NATIONAL.fullmatch(value) is not None


_DIGIT_RUN_ENTITIES: Final = frozenset({E.PHONE, E.CREDIT_CARD, E.US_SSN})
# An IBAN: country, check digits, then groups of four written together or apart (spaces or dashes).
_IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?\b")
# Written like one, give or take a digit or a case: "HR12 001 0051 8630 0016 A", "GI75 aWBK 0000 ...".
_IBAN_SHAPE: Final = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ -][A-Za-z0-9]{1,4}){3,9}\b|\b[A-Z]{2}\d{2}[A-Za-z0-9]{11,30}\b"
)


def _iban_shaped(text: str, match: re.Match[str]) -> bool:
    """Groups of four mostly, none a lower-case word: "UA12 call 415 555 0132" is a phone after a code."""
    groups = re.split(r"[ -]", match.group())
    if len(groups) == 1:
        return True
    return sum(len(g) == 4 for g in groups[1:]) >= 3 and not any(g.islower() for g in groups)


def _iban_end(text: str, match: re.Match[str], start: int, end: int) -> int:
    """The longest valid IBAN at a group boundary: an upper-case word or a stray letter after the value
    ("AL47 2121 ... 8741 ALL CAPS", "VG96 ... 8901 X") is not part of it."""
    ends = [end] + [i for i in range(end - 1, start, -1) if text[i] in " -"]
    return next((e for e in ends if V.iban_ok(text[start:e])), end)


def _ipv4_fifth(text: str, match: re.Match[str]) -> bool:
    """A fifth dotted part after an address ("192.168.1.1.1": a typo, an interface or a counter after
    it) leaves the first four an address when they read like one: no network suffix, and a first part
    of two or three digits. Versions and OIDs start with one digit ("1.2.3.4.5", "1.3.6.1.4").
    """
    if match.end() == match.end("addr"):
        return True
    addr = match.group("addr")
    return "/" not in addr and addr.index(".") >= 2


def _strip_full_stops(text: str, match: re.Match[str], start: int, end: int) -> int:
    while end > start and text[end - 1] == ".":
        end -= 1
    return end


def build_rules(policy: DetectPolicy) -> list[PatternRule]:
    """The recognizers, most specific first (priority decides overlaps, not list order)."""
    min_len, min_entropy = policy.secret_min_length, policy.secret_min_entropy
    return [
        PatternRule(
            "private_key_block",
            E.PRIVATE_KEY,
            re.compile(
                r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY"
                r"(?: BLOCK)?-----|\Z)",
                re.DOTALL,
            ),
            _has("PRIVATE KEY"),
            priority=100,
        ),
        PatternRule(
            "url_credentials",
            E.URL_CREDENTIALS,
            re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,30}://(?P<cred>[^\s:/@?#]+:[^\s/@?#]+)@[\w.-]+"),
            _has("://"),
            group=1,
            priority=95,
        ),
        PatternRule(
            "jwt",
            E.JWT,
            # Not after a token character: "eyJ-eyJ-..." must not start a scan at every "eyJ".
            re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
            _has("eyJ"),
            priority=90,
        ),
        PatternRule(
            "aws_access_key",
            E.AWS_ACCESS_KEY,
            re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
            _has("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA"),
            priority=90,
        ),
        PatternRule(
            "github_token",
            E.GITHUB_TOKEN,
            re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
            _has("gh", "github_pat_"),
            priority=90,
        ),
        PatternRule(
            "slack_token",
            E.SLACK_TOKEN,
            re.compile(
                r"\bxox[abposr]-[A-Za-z0-9-]{10,250}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"
            ),
            _has("xox", "hooks.slack.com"),
            priority=90,
        ),
        PatternRule(
            "stripe_key",
            E.STRIPE_KEY,
            re.compile(
                r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{10,247}\b|\bwhsec_[A-Za-z0-9]{24,}\b"
            ),
            _has("_live_", "_test_", "whsec_"),
            priority=90,
        ),
        PatternRule(
            "google_api_key",
            E.GOOGLE_API_KEY,
            re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
            _has("AIza"),
            priority=90,
        ),
        PatternRule(
            "aws_secret_key",
            E.AWS_SECRET_KEY,
            re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
            _digit,
            validate=lambda v: V.looks_random(v, 40, min_entropy, max_worded=0.6),
            priority=86,
        ),
        PatternRule(
            "bearer_token",
            E.SECRET,
            re.compile(r"\b[Bb]earer\s+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)"),
            _has("earer"),
            group=1,
            validate=_not_placeholder,
            priority=85,
        ),
        PatternRule(
            "password_pair",
            E.PASSWORD,
            re.compile(r"(?i)(?:" + _PW_KEYS + r")" + _PW_SEPARATOR + _PAIR_VALUE),
            _has_ci("pass", "pwd"),
            group=("dq", "sq", "value"),
            validate=_not_placeholder,
            priority=85,
            value_end=_pair_value_end,
        ),
        PatternRule(
            "secret_pair",
            E.SECRET,
            re.compile(r"(?i)(?:" + _PAIR_NAMES + r")" + _PAIR_SEPARATOR + _PAIR_VALUE),
            _has_ci("secret", "token", "key", "auth", "credential"),
            group=("dq", "sq", "value"),
            validate=_not_placeholder,
            priority=84,
            value_end=_pair_value_end,
        ),
        PatternRule(
            "email",
            E.EMAIL,
            re.compile(  # the top-level domain may be an internationalized one in punycode (xn--p1ai)
                r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                r"[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,24}|[Xx][Nn]--[A-Za-z0-9-]{1,59})(?![\w-])"
            ),
            _has("@"),
            priority=70,
        ),
        PatternRule(
            "iban",
            E.IBAN,
            _IBAN,
            _digits,
            validate=V.iban_ok,
            priority=75,
            value_end=_iban_end,
            shield=_DIGIT_RUN_ENTITIES,
        ),
        PatternRule(  # finds nothing: shields what is written like an IBAN but is not a valid one
            "iban_shape",
            E.IBAN,
            _IBAN_SHAPE,
            _digits,
            accept=_iban_shaped,
            validate=lambda _: False,
            priority=75,
            shield=_DIGIT_RUN_ENTITIES,
        ),
        PatternRule(
            "credit_card",
            E.CREDIT_CARD,
            re.compile(r"(?<![\w+-])(?:\d[ -]?){11,18}\d(?![\w-])"),  # "+49..." is a phone
            _digits,
            validate=V.card_ok,
            priority=72,
        ),
        PatternRule(
            "us_ssn",
            E.US_SSN,
            re.compile(r"(?<![\d.-])(?!000|666|9\d\d)\d{3}([-. ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-]|\.\d)"),
            _digits,
            priority=72,
        ),
        PatternRule(
            "ipv4",
            E.IP_ADDRESS,
            # Four dotted parts; a fifth is allowed (the address is the first four, see ``_ipv4_fifth``),
            # six or more are an OID or a long version and stay.
            re.compile(
                r"(?<![\w.])(?<![vV])(?<!version )(?<!release )(?<!build )"
                r"(?P<addr>(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?)(?!\w)(?:\.\d{1,3}(?!\w|\.\d)|(?!\.\d))"
            ),
            _digits,
            group=("addr",),
            validate=V.ipv4_ok,
            priority=60,
            accept=_ipv4_fifth,
        ),
        PatternRule(
            "ipv6",
            E.IP_ADDRESS,
            # An address, a network (fe80::/10); a full stop after it ends the sentence, not the address.
            re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:|::)[0-9A-Fa-f:.]{1,45}(?:/\d{1,3})?(?![\w:])"),
            _has(":"),
            validate=V.ipv6_ok,
            priority=60,
            value_end=_strip_full_stops,
        ),
        PatternRule(
            "phone",
            E.PHONE,
            re.compile(
                r"(?<![\w+/.:=-])(?:\+|(?<!\d)\(?)?\d[\d ().-]{6,24}\d"
                r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-]|\.\d|:\d)"
            ),
            _digits,
            validate=_phone_ok,
            priority=55,
        ),
        PatternRule(
            "phone_context",
            E.PHONE,
            _PHONE_CONTEXT,
            _has_ci(*_PHONE_CUE_PRECHECK),
            group=("value",),
            priority=56,
            accept=_phone_context_ok,
        ),
        PatternRule(
            "phone_glued",
            E.PHONE,
            _PHONE_GLUED,
            _digits,
            validate=_phone_ok,
            priority=55,
            accept=_after_a_word,
        ),
        PatternRule(
            "phone_alone",
            E.PHONE,
            _PHONE_ALONE,
            _digits,
            group=("value",),
            validate=_national_ten_digits,
            priority=55,
        ),
        PatternRule(
            "generic_secret",
            E.SECRET,
            re.compile(
                r"(?<![A-Za-z0-9_+/=.-])[A-Za-z0-9_+/-]{" + str(min_len) + r",}={0,2}(?![A-Za-z0-9_+/=-])"
            ),
            _digit,
            validate=lambda v: V.looks_random(v, min_len, min_entropy),
            priority=40,
            score=0.6,
        ),
    ]


def _group_span(match: re.Match[str], group: int | tuple[str, ...]) -> tuple[int, int]:
    if isinstance(group, int):
        return match.span(group)
    for name in group:
        if match.group(name) is not None:
            return match.span(name)
    return -1, -1


_PHONE_DATE: Final = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def _phone_ok(candidate: str) -> bool:
    """9 to 15 digits: with a ``+`` or a leading ``0`` (trunk or international prefix) in any grouping,
    else grouped like a phone number; never a date, a time, a version or a dotted address."""
    core = re.split(r"\s?(?:x|ext\.?)\s?\d", candidate)[0]
    digits = sum(c.isdigit() for c in core)
    if not 9 <= digits <= 15 or _PHONE_DATE.match(core):
        return False
    if core.count("(") != core.count(")") or "  " in core:
        return False
    groups = re.findall(r"\d+", core)
    sizes = [len(g) for g in groups]
    if "." in core and max(sizes) <= 3 and (len(groups) >= 6 or (len(groups) == 4 and sizes != [3, 3, 2, 2])):
        return False  # 10.2.33.104 and friends; 532.123.45.67 (3-3-2-2, Turkish) is a phone
    if sizes == [3, 2, 4] or len(set("".join(groups))) == 1:
        return False  # grouped like a US SSN (valid ones are SSNs, the rest neither), or 000000000
    if core.isdigit() and core.startswith("0") and digits != 11:
        # One run with a trunk 0 and no cue: only the common national length (0 + ten digits: UK, TR,
        # PH, IN, JP and KR mobiles). Other lengths are as often an id or an invalid SSN (0780511201);
        # with a cue word the phone_context rule finds them.
        return False
    if core.startswith(("+", "0", "(0", "(+")):
        return True
    if len(groups) < 2:
        return False
    # Without a prefix, a US-style 3-3-4 grouping (optionally 1-3-3-4) or 3-4 groups of 2-4 digits.
    return sizes[-3:] == [3, 3, 4] or (3 <= len(sizes) <= 5 and all(2 <= n <= 4 for n in sizes))


class PatternDetector:
    """Runs every rule whose pre-check passes; overlaps are resolved later with the names."""

    def __init__(self, policy: DetectPolicy, rules: list[PatternRule] | None = None) -> None:
        self.rules = rules if rules is not None else build_rules(policy)
        self.keep_ips = frozenset(policy.keep_ips)
        self._allow = frozenset(policy.allow_list)

    def find(self, text: str) -> list[tuple[Span, int]]:
        """Every finding as (span, priority); may overlap."""
        found: list[tuple[Span, int]] = []
        shields: list[tuple[int, int, int, frozenset[str]]] = []  # invalid matches that shield entities
        for rule in self.rules:
            if not rule.precheck(text):
                continue
            for match in rule.regex.finditer(text):
                start, end = _group_span(match, rule.group)
                if start >= 0 and rule.value_end is not None:
                    end = rule.value_end(text, match, start, end)
                if start < 0 or end <= start:
                    continue
                if rule.accept is not None and not rule.accept(text, match):
                    continue
                value = text[start:end]
                if value in self._allow:
                    continue
                if rule.validate is not None and not rule.validate(value):
                    if rule.shield:
                        shields.append((match.start(), match.end(), rule.priority, rule.shield))
                    continue
                if rule.entity == E.IP_ADDRESS and value.split("/")[0] in self.keep_ips:
                    continue
                found.append((Span(start, end, rule.entity, rule.score), rule.priority))
        if shields:
            found = [
                (span, priority)
                for span, priority in found
                if not any(
                    s < span.end and span.start < e and priority < p and span.entity in shielded
                    for s, e, p, shielded in shields
                )
            ]
        return found
