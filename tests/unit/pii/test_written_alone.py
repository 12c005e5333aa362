"""Recall where people write PII: bare-digit phone numbers in a phone context, first names alone in
greetings, sign-offs and signatures; and the decoys next to them (order and ticket numbers, versions,
timestamps, team names, "Hi there") left alone."""

from __future__ import annotations

import pytest

from libs.pii import entities as E
from libs.pii.detect import Detector, resolve
from libs.pii.names import NameFinder
from libs.pii.patterns import PatternDetector
from libs.pii.policy import DetectPolicy
from services.sanitizer.core.policy import SanitizerPolicy


def phones(text: str) -> list[str]:
    return [text[s.start : s.end] for s in resolve(PatternDetector(DetectPolicy()).find(text))]


def names(text: str, common: frozenset[str] = frozenset({"overview", "done", "malik"})) -> list[str]:
    finder = NameFinder(None, window_words=3, common_words=common)
    return sorted(text[s.start : s.end] for s in finder.find_batch([text], [[]])[0])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("reach me at 8309926002", "8309926002"),
        ("You can reach me anytime on 8309926002.", "8309926002"),
        ("my cell is 8309926002, thanks", "8309926002"),
        ("Mobile: 8309926002", "8309926002"),
        ("WhatsApp 447700900123 after six", "447700900123"),
        ("text me at +4915112345678", "+4915112345678"),
        ("please call 8309926002 tomorrow", "8309926002"),
        ("Call me on 8309926002x12", "8309926002x12"),
        ("tel:8309926002", "8309926002"),
        ("my phone number is 830992600212345", "830992600212345"),
        ("fax 0301234567", "0301234567"),
        ("contact number: 8309926002", "8309926002"),
        # right after an e-mail address in a contact line
        ("Brian Lynn (brian@example.com, 4492472477) says", "4492472477"),
        ("write to ann@example.org / 378350391", "378350391"),
        # a decoy word in the sentence before does not reach across the full stop
        ("the app version is v0.17.13. WhatsApp: 4479188511311.", "4479188511311"),
        # national formats without separators are phones even without a cue (trunk prefix 0 or a +)
        ("ring 07700900123 or 0612345678", "07700900123"),
        ("the number 0612345678 works", "0612345678"),
    ],
)
def test_bare_digit_phone_in_a_phone_context(text: str, value: str) -> None:
    assert value in phones(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 4829103342 shipped",  # no cue: a bare run of digits stays
        "order number 4829103342 shipped",  # "number" is a phone cue, "order" before it wins
        "call about ticket 4829103342",  # a decoy word between cue and digits wins
        "I called support about invoice 8309926002",
        "phone order ref 8309926002",
        "call id 8309926002 dropped",
        "call started at 1736938800000",  # epoch milliseconds
        "phone sync at 1736938800",  # epoch seconds: no NANP number starts with 1
        "number of requests 8309926002",
        "the contact form has version 8309926002",
        "call me at 8309926002.5 seconds",  # a decimal, not a phone
        "please call 8309926002123456",  # 16 digits: too long for a phone number
    ],
)
def test_phone_decoys_stay(text: str) -> None:
    assert phones(text) == []


def test_nine_digits_right_after_a_cue() -> None:
    assert phones("my number is 351337489") == ["351337489"]
    assert phones("mail a@b.io; 1736938800000") == ["a@b.io"]  # epoch milliseconds after an address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi April,\nthe export fails.", ["April"]),
        ("Hello Bram\nit broke again", ["Bram"]),
        ("Dear Ana,\nthank you", ["Ana"]),
        ("Thanks,\nBram", ["Bram"]),
        ("Best regards,\nAna", ["Ana"]),
        ("Kind regards,\n  Ximena\n", ["Ximena"]),
        ("Cheers, Bram", ["Bram"]),
        ("Thanks, May", ["May"]),
        ("Thank you!\nQuentin (q@example.com)", ["Quentin"]),
        ("If it comes back, reply here.\n\nMalik\nLarkspur Support", ["Malik"]),  # a common word, too
        ("Fixed in the next release.\n\nNoor\n+1 415 555 0134", ["Noor"]),
        ("Dear Ana Peixoto,\nhello", ["Ana Peixoto"]),
        ("Thanks,\nAna Peixoto\n+1 555", ["Ana Peixoto"]),
    ],
)
def test_first_names_alone_in_greetings_and_signatures(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Thanks,\nThe Larkspur team",
        "Hi there,\nthe export fails.",
        "Hello team,\nany news?",
        "Dear customer,\nyour order shipped.",
        "Dear Customer,\nyour order shipped.",
        "Hi all, Hello everyone!",
        "Thanks,\nCustomer Care",
        "Regards,\nTel. 0301234567",
        "Thanks, May I ask one more thing?",  # a sentence, not a signature
        "Intro.\n\nOverview\nThis page explains the setup of the billing service in detail.",
        "Setup done.\n\nDone",  # a dictionary word alone on the last line
        "Steps:\n\nDockerfile\n```\nFROM python\n```",  # a line over code is not a signature
    ],
)
def test_greeting_and_sign_off_decoys(text: str) -> None:
    assert names(text) == []


def test_detector_replaces_both_in_a_ticket() -> None:
    text = (
        "Hi April,\n\nthe app crashes since v2.14.3 (ticket INC-20412, order 4829103342).\n"
        "You can reach me at 8309926002.\n\nThanks,\nBram"
    )
    spans = Detector(SanitizerPolicy()).detect(text)
    got = [(s.entity, text[s.start : s.end]) for s in spans]
    assert got == [(E.PERSON, "April"), (E.PHONE, "8309926002"), (E.PERSON, "Bram")]
