"""The rules that close the last gaps on Presidio's own recognizer tests (benchmarks/presidio_suite): an
address with a fifth dotted part, a phone number glued to the word before it, ten digits standing alone,
and bare trunk-0 runs that are no phone number (an invalid SSN must not come back as one). Each family
with the decoys that must stay untouched next to it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from libs.pii import entities as E
from libs.pii.detect import Detector, resolve
from libs.pii.patterns import PatternDetector
from libs.pii.policy import DetectPolicy
from libs.schemas import RawRecord
from services.sanitizer.adapters.presidio import PresidioReplacer
from services.sanitizer.core.anonymize import PiiAnonymizer
from services.sanitizer.core.pipeline import Work
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import KEYS, FakeNer


def found(text: str) -> list[tuple[str, str]]:
    spans = resolve(PatternDetector(DetectPolicy()).find(text))
    return [(s.entity, text[s.start : s.end]) for s in spans]


# -- an IPv4 address followed by a fifth dotted part ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("192.168.1.1.1", "192.168.1.1"),
        ("peer 10.20.30.40.7 went down", "10.20.30.40"),
        ("IP: 192.168.1.1.", "192.168.1.1"),  # four parts and a full stop, as before
    ],
)
def test_an_address_with_a_fifth_part_is_the_first_four(text: str, value: str) -> None:
    assert found(text) == [(E.IP_ADDRESS, value)]


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3.4.5",  # a version: one-digit first part
        "OID 1.3.6.1.4.1.311 is Microsoft's",  # an OID
        "192.168.1.1.1.1",  # six parts
        "192.168.1.1.1000",  # a fifth part longer than an octet
        "10.0.0.0/8.1",  # a network with something after it
        "version 10.2.3.4.5",
        "v10.2.3.4.5",
    ],
)
def test_dotted_runs_that_are_no_address_stay(text: str) -> None:
    assert found(text) == []


# -- a US-style number glued to the word before it -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("my international one is415-555-0132", "415-555-0132"),
        ("reach me at415.555.0132 today", "415.555.0132"),
        ("or415 555 0132", "415 555 0132"),
    ],
)
def test_a_phone_number_glued_to_a_word(text: str, value: str) -> None:
    assert (E.PHONE, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "ab12cd415-555-0132",  # the tail of a code, not a word
        "key=abc415-555-0132",
        "SKU415-555-0132",  # an upper-case code
        "is415-555.0132",  # mixed separators
        "is4155550132",  # no separators: a bare run needs a cue
        "is415-555-01325",
        "a415-555-0132",  # one letter: a prefix, not a word
    ],
)
def test_glued_look_alikes_stay(text: str) -> None:
    assert found(text) == []


# -- ten digits alone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["5321234567", "4321234567", "2121234567", " 8309926002\n", "4155550132"],
)
def test_ten_digits_alone_in_a_national_plan_are_a_phone(text: str) -> None:
    assert found(text) == [(E.PHONE, text.strip())]


@pytest.mark.parametrize(
    "text",
    [
        "1234567890",  # no plan starts with 1
        "1736938800",  # epoch seconds
        "9171234567",  # not NANP (exchange 123) nor Turkish
        "9115550132",  # area code 911: a service code
        "2222222222",  # a placeholder
        "5050505050",
        "order 4829103342",  # in a sentence a bare run still needs a cue
        "4829103342 shipped",
        "48291033421",
        "482910334",
    ],
)
def test_other_lone_runs_and_runs_in_sentences_stay(text: str) -> None:
    assert found(text) == []


# -- bare runs with a trunk 0 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("09171234567", "09171234567"),  # 0 + ten digits: the common national length
        ("sent from 07700900123 yesterday", "07700900123"),
        ("call 0612345678", "0612345678"),  # other lengths with a cue word
        ("fax 030123456", "030123456"),
        ("06 12 34 56 78", "06 12 34 56 78"),  # or written with separators
        ("0 (532) 1234567", "0 (532) 1234567"),
    ],
)
def test_trunk_zero_numbers_still_found(text: str, value: str) -> None:
    assert (E.PHONE, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "0780511201",  # an invalid SSN, ten digits
        "078051120",  # the Woolworth SSN, nine digits
        "0917123456",
        "091712345678",
        "ref 0780511201 attached",
    ],
)
def test_bare_trunk_zero_runs_of_other_lengths_are_no_phone(text: str) -> None:
    assert found(text) == []


# -- through the sanitizer: the lone-number rule reads the content, not a named field ---------------------


def test_a_lone_number_is_replaced_in_the_content_but_not_in_an_id_field(
    make_record: Callable[..., RawRecord],
) -> None:
    policy = SanitizerPolicy()
    anonymizer = PiiAnonymizer(
        Detector(policy, FakeNer()), PresidioReplacer(policy.anonymize, KEYS), policy, "test-k1"
    )
    record = make_record(
        "5321234567", fields={"order_number": "4829103342", "build": "192.168.1.1.1", "ver": "1.2.3.4.5"}
    )
    (out,) = anonymizer.process_batch([Work.of(record)])
    assert isinstance(out, Work)
    assert "5321234567" not in out.content and out.content.startswith("<PHONE")
    # a field is read with its name ("order number: 4829103342"): the run is in a sentence, not alone
    assert out.fields["order_number"] == "4829103342"
    assert out.fields["ver"] == "1.2.3.4.5"
    assert "192.168.1.1" not in str(out.fields["build"])
