from __future__ import annotations

from libs.pii.detect import Detector
from libs.pii.entities import PERSON, Span
from libs.pii.names import NameFinder
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import FakeNer


def names(text: str, ner: FakeNer | None = None) -> list[str]:
    finder = NameFinder(ner, window_words=3, common_words=frozenset({"requires", "maintainer"}))
    return [text[s.start : s.end] for s in finder.find_batch([text], [[]])[0]]


def test_full_names_of_any_locale_without_the_model() -> None:
    ner = FakeNer()
    text = "Customer Ana Vitória Peixoto and Simon van der Plas called; Zoë Müller-Lüdenscheidt too."
    assert names(text, ner) == ["Ana Vitória Peixoto", "Simon van der Plas", "Zoë Müller-Lüdenscheidt"]
    assert ner.calls == []  # nothing left for the model


def test_cues_name_single_words() -> None:
    assert names("Hi Anna, thanks. Cheers, Bob") == ["Anna", "Bob"]
    assert names("the refund was approved by Livio today") == ["Livio"]


def test_single_words_go_to_the_model_as_short_windows() -> None:
    ner = FakeNer(people=["Meike"])
    text = "The deploy is done and Meike will take over the on-call rotation tomorrow morning"
    assert names(text, ner) == ["Meike"]
    assert len(ner.calls) == 1
    (window,) = ner.calls[0]
    assert "Meike" in window and len(window.split()) <= 7


def test_model_entities_must_touch_a_candidate() -> None:
    ner = FakeNer(people=["Email", "Gateway"])
    assert names("Email sent. The Gateway restarted.", ner) == ["Gateway"]


def test_ordinary_words_never_reach_the_model() -> None:
    ner = FakeNer()
    text = "Requires version 2.1 or later.\nMaintainer: see the wiki. ERROR Payment failed, retry scheduled."
    assert names(text, ner) == []
    assert ner.calls == []


def test_names_inside_other_findings_are_skipped() -> None:
    finder = NameFinder(FakeNer())
    text = "mail Anna Smith@example.com"
    taken = [Span(5, 27, "EMAIL")]
    assert finder.find_batch([text], [taken]) == [[]]


def test_detector_merges_patterns_and_names() -> None:
    detector = Detector(SanitizerPolicy(), FakeNer())
    text = "Dear Jean Dupont, your card 4111111111111111 is blocked."
    spans = detector.detect(text)
    assert [(s.entity, text[s.start : s.end]) for s in spans] == [
        (PERSON, "Jean Dupont"),
        ("CREDIT_CARD", "4111111111111111"),
    ]
