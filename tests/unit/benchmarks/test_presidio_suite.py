"""The Presidio suite: cases are parsed from test files without running them, and scored as documented."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from benchmarks.presidio_suite.extract import LICENSE_NOTE, extract_file
from benchmarks.presidio_suite.score import CASES, Unit, clusters, load_units, score
from libs.pii.entities import Span

SAMPLE = """
import pytest

@pytest.fixture(scope="module")
def entities():
    return ["IBAN_CODE"]

def helper(x):
    return x

@pytest.mark.parametrize(
    "iban, expected_len, expected_res",
    [
        ("AL47212110090000000235698741", 1, ((0, 28),),),
        ("AL47 212A", 0, ()),
        (helper("AL47"), 1, ((0, 4),),),
    ],
)
def test_ibans(iban, expected_len, expected_res, recognizer, entities):
    pass

@pytest.mark.parametrize(
    "text, expected_len, expected_positions, expected_score_ranges",
    [("078051121", 1, ((0, 9),), ((0.0, 0.4),),), ("2001:db8::1", 1, (), ())],
)
def test_other(text, expected_len, expected_positions, expected_score_ranges):
    pass
"""


def test_extract_parses_literal_cases_and_skips_calls() -> None:
    skipped: Counter[str] = Counter()
    cases = extract_file("presidio-analyzer/tests/test_x_recognizer.py", SAMPLE, skipped)
    assert [(c.test, c.index, c.text, c.entity, c.expected_len, c.spans) for c in cases] == [
        ("test_ibans", 0, "AL47212110090000000235698741", "IBAN_CODE", 1, [[0, 28]]),
        ("test_ibans", 1, "AL47 212A", "IBAN_CODE", 0, []),
        ("test_other", 0, "078051121", "IBAN_CODE", 1, [[0, 9]]),
        ("test_other", 1, "2001:db8::1", "IBAN_CODE", 1, None),  # a count, no positions
    ]
    assert cases[2].score_ranges == [[0.0, 0.4]]
    assert skipped == Counter({"case not literal (built by a call)": 1})


def test_committed_cases_record_their_source() -> None:
    document = json.loads(Path(CASES).read_text())
    assert len(document["source"]["commit"]) == 40
    assert document["license"] == LICENSE_NOTE
    assert all({"file", "test", "text", "entity"} <= set(c) for c in document["cases"])
    _, units = load_units()
    assert {u.entity for u in units} >= {"IBAN", "PHONE", "PERSON", "US_SSN", "IP_ADDRESS", "EMAIL"}


def test_overlapping_expectations_are_alternatives() -> None:
    assert clusters({(13, 20), (17, 20), (30, 34)}) == [[(13, 20), (17, 20)], [(30, 34)]]


def test_score_recall_fp_and_relabels() -> None:
    units = [
        Unit("Mr. Mayers", "PERSON", spans={(4, 10)}),
        Unit("AT61 1904 3002 3457 320", "IBAN"),
        Unit("call 415 555 0132", "PHONE", spans={(5, 17)}),
    ]
    detections = [
        [Span(0, 10, "PERSON")],  # IoU 0.6: found
        [Span(5, 23, "PHONE")],  # an invalid IBAN replaced as a phone
        [Span(5, 9, "PHONE")],  # IoU 4/12: not found
    ]
    result = score(units, detections)
    assert result.found["PERSON"] == 1 and result.found["PHONE"] == 0
    assert result.relabelled == 1 and result.negatives == 1
    assert result.units_with_fp == 1
