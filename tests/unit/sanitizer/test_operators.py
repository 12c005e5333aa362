from __future__ import annotations

import re

import pytest
from presidio_anonymizer.entities import RecognizerResult

from libs.pii.entities import Span
from services.sanitizer.adapters.presidio import Keys, PresidioReplacer, reveal
from services.sanitizer.core import operators as ops
from services.sanitizer.core.errors import SanitizerError
from services.sanitizer.core.policy import AnonymizePolicy, Operator
from tests.unit.sanitizer.conftest import KEYS

KEY = KEYS.pseudonym_key


def test_pseudonym_is_typed_keyed_and_stable() -> None:
    token = ops.pseudonym("EMAIL", "Jane@Example.com", KEY)
    assert re.fullmatch(r"<EMAIL_[0-9a-f]{8}>", token)
    assert token == ops.pseudonym("EMAIL", " jane@example.com", KEY)  # canonical form
    assert token != ops.pseudonym("EMAIL", "jane@example.com", b"another-key-0123456789abcdef0123")
    assert token != ops.pseudonym("EMAIL", "john@example.com", KEY)
    assert ops.pseudonym("PHONE", "+1 (415) 555-0134", KEY) == ops.pseudonym("PHONE", "1-415-555-0134", KEY)


def test_mask_hash_redact() -> None:
    assert ops.masked("4111 1111 1111 1234") == "**** **** **** 1234"
    assert ops.redacted("IBAN") == "<IBAN>"
    digest = ops.keyed_hash("PERSON", "Anna Smith", KEY)
    assert len(digest) == 64 and digest == ops.keyed_hash("PERSON", "anna  smith", KEY)


@pytest.mark.parametrize(
    ("operator", "pattern"),
    [
        (Operator.PSEUDONYM, r"mail <EMAIL_[0-9a-f]{8}> now"),
        (Operator.REDACT, r"mail <EMAIL> now"),
        (Operator.MASK, r"mail \*\*\*@\*\*te\.io now"),
        (Operator.HASH, r"mail [0-9a-f]{64} now"),
        (Operator.KEEP, r"mail ann@site\.io now"),
    ],
)
def test_presidio_runs_each_operator(operator: Operator, pattern: str) -> None:
    replacer = PresidioReplacer(AnonymizePolicy(default_operator=operator), KEYS)
    text = "mail ann@site.io now"
    assert re.fullmatch(pattern, replacer.replace(text, [Span(5, 16, "EMAIL")]))


def test_encrypt_is_reversible_with_the_key() -> None:
    replacer = PresidioReplacer(AnonymizePolicy(entities={"IBAN": Operator.ENCRYPT}), KEYS)
    out = replacer.replace("iban DE89370400440532013000", [Span(5, 27, "IBAN")])
    token = out.removeprefix("iban ")
    assert "DE89" not in token
    assert KEYS.encryption_key is not None
    assert reveal(token, KEYS.encryption_key) == "DE89370400440532013000"


def test_encrypt_without_a_key_is_refused() -> None:
    with pytest.raises(SanitizerError):
        PresidioReplacer(AnonymizePolicy(entities={"IBAN": Operator.ENCRYPT}), Keys(KEY, "k"))


def test_per_entity_operators_and_whole_values() -> None:
    replacer = PresidioReplacer(AnonymizePolicy(entities={"PASSWORD": Operator.REDACT}), KEYS)
    text = "user Bob password hunter2"
    out = replacer.replace(text, [Span(5, 8, "PERSON"), Span(18, 25, "PASSWORD")])
    assert re.fullmatch(r"user <PERSON_[0-9a-f]{8}> password <PASSWORD>", out)
    assert replacer.replace_value("Bob", "PERSON", None) == ops.pseudonym("PERSON", "Bob", KEY)
    assert replacer.replace_value("123-45-6789", "US_SSN", Operator.MASK) == "***-**-6789"


def test_keys_repr_hides_the_key_material() -> None:
    shown = repr(KEYS)
    assert "test-k1" in shown
    assert repr(KEYS.pseudonym_key) not in shown and repr(KEYS.encryption_key) not in shown


def test_many_values_are_replaced_in_one_pass() -> None:
    replacer = PresidioReplacer(AnonymizePolicy(), KEYS)
    text = "".join(f"mail u{i}@x.io now; " for i in range(1000))
    spans = [Span(m.start(), m.end(), "EMAIL") for m in re.finditer(r"u\d+@x\.io", text)]
    expected = text
    for span in reversed(spans):
        value = text[span.start : span.end]
        expected = expected[: span.start] + ops.pseudonym("EMAIL", value, KEY) + expected[span.end :]
    assert replacer.replace(text, spans) == expected


@pytest.mark.parametrize("default", [op for op in Operator if op is not Operator.ENCRYPT])
def test_one_pass_replaces_as_presidios_engine_does(default: Operator) -> None:
    """The splice is a shortcut past Presidio's engine: same operators, same output, any policy."""
    policy = AnonymizePolicy(
        default_operator=default,
        entities={"PASSWORD": Operator.REDACT, "CREDIT_CARD": Operator.MASK, "IBAN": Operator.HASH},
    )
    replacer = PresidioReplacer(policy, KEYS)
    text = "Ann Lee <ann@x.io> card 4111 1111 1111 1111, pw hunter2, iban DE89370400440532013000!"
    spans = [
        Span(0, 7, "PERSON"),
        Span(9, 17, "EMAIL"),
        Span(24, 43, "CREDIT_CARD"),
        Span(48, 55, "PASSWORD"),
        Span(62, 84, "IBAN"),
    ]
    results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
    engine = replacer._engine.anonymize(
        text, results, replacer._operators(spans), merge_entities_with_spaces=False
    )
    assert replacer.replace(text, spans) == engine.text
    assert replacer.replace(text, list(reversed(spans))) == engine.text
    for span in spans:
        value = text[span.start : span.end]
        assert replacer.replace_value(value, span.entity, None) == replacer._engine_value(
            value, span.entity, policy.operator_for(span.entity)
        )


def test_overlapping_spans_are_left_to_presidios_engine() -> None:
    replacer = PresidioReplacer(AnonymizePolicy(), KEYS)
    text = "call Ann Lee now"
    out = replacer.replace(text, [Span(5, 12, "PERSON"), Span(9, 12, "PERSON")])
    assert re.fullmatch(r"call <PERSON_[0-9a-f]{8}> now", out)
