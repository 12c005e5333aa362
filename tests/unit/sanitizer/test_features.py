"""The feature step: language, token count, Gopher/C4-style signals, structure; the filters on them;
and both wired into the sanitizer (offline path) with drops counted by reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from libs.model_cache import embedded_folder
from libs.schemas import RawRecord, RecordKind, SanitizedRecord, Structure
from services.sanitizer.adapters.features import language_identifier, token_counter, tokenizer_path
from services.sanitizer.build import build_sanitizer, feature_steps
from services.sanitizer.core.errors import PolicyError
from services.sanitizer.core.features import (
    FeatureExtractor,
    FeatureFilter,
    detect_structure,
    quality_issues,
    quality_signals,
)
from services.sanitizer.core.pipeline import Dropped, Work
from services.sanitizer.core.policy import (
    FeaturesPolicy,
    FiltersPolicy,
    QualityThresholds,
    SanitizerPolicy,
)
from services.sanitizer.offline import sanitize_file
from tests.unit.sanitizer.conftest import KEYS, FakeNer

ENGLISH = (
    "The printer on the third floor has been jammed since this morning. We tried to restart it and to "
    "clear the paper tray, but the error light is still blinking. Could someone from support have a look?"
)
GERMAN = (
    "Der Drucker im dritten Stock ist seit heute Morgen blockiert. Wir haben versucht, ihn neu zu starten "
    "und das Papierfach zu leeren, aber die Fehlerleuchte blinkt immer noch. Kann sich jemand das ansehen?"
)
FRENCH = (
    "L'imprimante du troisième étage est bloquée depuis ce matin. Nous avons essayé de la redémarrer et de "
    "vider le bac à papier, mais le voyant d'erreur clignote toujours. Quelqu'un peut-il regarder?"
)
TOKENIZER_READY = (embedded_folder() / "tokenizer.json").is_file()


def raw(content: str, kind: str = "sql", source: str = "support", **fields: object) -> RawRecord:
    return RawRecord(
        id=f"{source}:{abs(hash(content))}",
        source=source,
        kind=RecordKind(kind),
        content=content,
        fields=dict(fields),
        collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def extractor(policy: FeaturesPolicy | None = None) -> FeatureExtractor:
    return FeatureExtractor(policy or FeaturesPolicy(), language_identifier(), lambda texts: [7] * len(texts))


@pytest.mark.parametrize(("text", "lang"), [(ENGLISH, "en"), (GERMAN, "de"), (FRENCH, "fr")])
def test_language_of_english_german_and_french_text(text: str, lang: str) -> None:
    work = Work.of(raw(text))
    extractor().process_batch([work])
    assert work.features is not None
    assert work.features.lang == lang
    assert work.features.lang_score > 0.9


def test_too_short_or_unsure_text_is_undetermined() -> None:
    short, numbers = Work.of(raw("ok thanks")), Work.of(raw("4711 0815 2026-01-01 42 17 99 1234 5678"))
    extractor().process_batch([short, numbers])
    assert short.features is not None and short.features.lang == "und"
    assert short.features.lang_score == 0.0
    assert numbers.features is not None and numbers.features.lang == "und"


@pytest.mark.skipif(not TOKENIZER_READY, reason="run `tuneline models prepare` (the embedded tokenizer)")
def test_token_count_is_the_training_tokenizers() -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(embedded_folder()))
    texts = [ENGLISH, GERMAN, "", "<EMAIL_1a2b3c4d> wrote: café ünïcödé 🤖\n\n  two  spaces"]
    count = token_counter("embedded")
    assert count is not None
    assert count(texts) == [len(reference(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert tokenizer_path("auto") == tokenizer_path("embedded")


def test_tokenizer_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_counter("none") is None
    with pytest.raises(PolicyError, match="no tokenizer.json"):
        tokenizer_path(str(tmp_path))
    monkeypatch.setenv("TUNELINE_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(PolicyError, match="tuneline models prepare"):
        tokenizer_path("embedded")
    assert tokenizer_path("auto") is None  # a warning, and no token count
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(PolicyError, match="cannot load"):
        token_counter(str(tmp_path))
    with pytest.raises(PolicyError, match="no tokenizer.json"):
        build_sanitizer(
            SanitizerPolicy(features=FeaturesPolicy(tokenizer=str(tmp_path / "missing"))), KEYS, FakeNer()
        )


def test_gopher_signals_of_clean_prose() -> None:
    signals = quality_signals(ENGLISH)
    assert signals.words == len(ENGLISH.split())
    assert 4 < signals.mean_word_length < 6
    assert signals.symbol_word_ratio == 0.0
    assert signals.alpha_word_fraction == 1.0
    assert signals.stop_words >= 4  # the, to, and...
    assert signals.lines == 1 and signals.dup_line_fraction == 0.0
    assert signals.end_punct_fraction == 1.0
    assert signals.dup_5gram_fraction == 0.0 and signals.boilerplate_fraction == 0.0
    issues, quality = quality_issues(signals, QualityThresholds())
    assert issues == [] and quality == 1.0


def test_gopher_signals_of_repetitive_symbol_heavy_and_boilerplate_text() -> None:
    spam = "\n".join(["buy cheap watches now"] * 8 + ["# # # ... # #"])
    signals = quality_signals(spam, ["click here"])
    assert signals.lines == 9
    assert signals.dup_line_fraction == pytest.approx(7 / 9, abs=1e-3)
    assert signals.top_2gram_fraction > 0.2  # "buy cheap" 8 times
    assert signals.dup_5gram_fraction > 0.9
    assert signals.words == 32  # '#' and '...' alone are not words
    assert signals.symbol_word_ratio == pytest.approx(6 / 32, abs=1e-3)  # five '#' and an ellipsis
    assert signals.alpha_word_fraction == pytest.approx(32 / 38, abs=1e-3)
    assert signals.end_punct_fraction == 0.0
    issues, quality = quality_issues(signals, QualityThresholds())
    assert {
        "dup_line_fraction",
        "top_2gram_fraction",
        "dup_5gram_fraction",
        "stop_words",
        "symbol_word_ratio",
        "end_punct_fraction",
    } <= set(issues)
    assert quality <= 0.65

    hashtags = quality_signals("great day #sun #beach #fun #summer at the sea and the sand ...")
    assert hashtags.symbol_word_ratio == pytest.approx(5 / 12, abs=1e-3)  # 4 '#' and an ellipsis

    footer = quality_signals(
        "Read our cookie policy.\nAll rights reserved.\nThe answer is 42.",
        ["cookie policy", "all rights reserved"],
    )
    assert footer.boilerplate_fraction == pytest.approx(2 / 3, abs=1e-3)

    assert quality_signals("").words == 0 and quality_signals("").mean_word_length == 0.0
    assert quality_signals("x" * 40).mean_word_length == 40.0


def test_structure_of_qa_pairs_logs_articles_and_the_rest() -> None:
    qa_fields = {"subject": "TM-150", "question": "The light is red. How do I fix it?", "answer": "Move it."}
    assert detect_structure(RecordKind.SQL, "TM-150\n\nThe light...\n\nMove it.", qa_fields) is Structure.QA
    assert (
        detect_structure(RecordKind.HTTP, "Q: Can I reset it?\nA: Yes, hold the button.", {}) is Structure.QA
    )
    log_message = "[checkout] payment failed for order 1234: timeout after 30s"
    assert detect_structure(RecordKind.LOG, log_message, {"level": "ERROR"}) is Structure.LOG
    trace = (
        "2026-01-01 12:00:00 ERROR boom\nTraceback (most recent call last):\n"
        "  File \"app.py\", line 3, in <module>\nKeyError: 'x'"
    )
    assert detect_structure(RecordKind.SQL, trace, {}) is Structure.LOG  # log-shaped lines, any source
    article = "Nimbus Hub: overview\n\n" + ENGLISH + "\n\n" + ENGLISH
    assert detect_structure(RecordKind.HTTP, article, {"title": "Nimbus Hub"}) is Structure.ARTICLE
    assert detect_structure(RecordKind.HTTP, ENGLISH * 5, {}) is Structure.ARTICLE  # long prose
    assert detect_structure(RecordKind.SQL, "Order 1234 shipped to Berlin.", {}) is Structure.OTHER


def test_features_are_computed_on_the_anonymized_text_and_stored_on_the_record() -> None:
    policy = SanitizerPolicy(features=FeaturesPolicy(tokenizer="none"))
    [result] = build_sanitizer(policy, KEYS, FakeNer(["Ada Lovelace"])).run(
        [raw(ENGLISH + " Thanks, Ada Lovelace (ada@example.com)")]
    )
    assert isinstance(result, SanitizedRecord) and result.features is not None
    assert result.features.lang == "en" and result.features.tokens is None
    assert result.features.structure is Structure.OTHER
    assert "Lovelace" not in result.content
    decoded = SanitizedRecord.model_validate_json(result.model_dump_json())
    assert decoded.features == result.features
    # A message without features (an older sanitizer) still validates.
    old = result.model_dump(mode="json")
    del old["features"]
    assert SanitizedRecord.model_validate(old).features is None


def test_features_off_adds_no_step_and_no_features() -> None:
    policy = SanitizerPolicy(features=FeaturesPolicy(enabled=False))
    assert feature_steps(policy) == []
    [result] = build_sanitizer(policy, KEYS, FakeNer()).run([raw(ENGLISH)])
    assert isinstance(result, SanitizedRecord) and result.features is None


def _filtered(filters: FiltersPolicy, *records: RawRecord) -> list[str]:
    works = [Work.of(r) for r in records]
    extractor().process_batch(works)
    step = FeatureFilter(filters)
    return [o.reason if isinstance(o, Dropped) else "kept" for o in (step.process(w) for w in works)]


def test_filters_drop_by_language_quality_structure_and_tokens_with_a_reason() -> None:
    english, german = raw(ENGLISH), raw(GERMAN)
    spam = raw("\n".join(["buy cheap watches now"] * 8))
    log = raw("\n".join(["GET /v2/hubs 200 12ms"] * 8), kind="log")
    short = raw("ok thanks")
    assert _filtered(FiltersPolicy(languages=["en"]), english, german, short) == [
        "kept",
        "filtered:lang",
        "kept",
    ]
    assert _filtered(FiltersPolicy(min_quality=0.8), english, spam, log) == [
        "kept",
        "filtered:quality",
        "kept",
    ]
    assert _filtered(FiltersPolicy(min_quality=0.8, exempt_structures=[]), log) == ["filtered:quality"]
    assert _filtered(FiltersPolicy(languages=["de"], exempt_structures=[]), log) == ["kept"]  # und
    assert _filtered(FiltersPolicy(structures=[Structure.LOG]), english, log) == [
        "filtered:structure",
        "kept",
    ]
    assert _filtered(FiltersPolicy(max_tokens=6), english) == ["filtered:tokens"]  # the fake counts 7
    assert _filtered(FiltersPolicy(min_tokens=7, max_tokens=7), english) == ["kept"]


def test_dropped_detail_names_what_failed() -> None:
    step = FeatureFilter(FiltersPolicy(languages=["en"]))
    work = Work.of(raw(GERMAN))
    extractor().process_batch([work])
    dropped = step.process(work)
    assert isinstance(dropped, Dropped) and not dropped.dead_letter
    assert dropped.detail.startswith("language de")


def test_offline_sanitize_counts_filtered_records_by_reason(tmp_path: Path) -> None:
    source = tmp_path / "raw.jsonl"
    records = [raw(ENGLISH), raw(GERMAN), raw(FRENCH), raw("\n".join(["buy cheap watches now"] * 8))]
    source.write_text("".join(r.model_dump_json() + "\n" for r in records))
    policy = SanitizerPolicy(
        features=FeaturesPolicy(tokenizer="none"), filters=FiltersPolicy(languages=["en"], min_quality=0.8)
    )
    summary = sanitize_file(source, tmp_path / "out.jsonl", build_sanitizer(policy, KEYS, FakeNer()), 1 << 20)
    assert summary.records_out == 1
    assert summary.dropped == {"filtered:lang": 2, "filtered:quality": 1}
    lines = "\n".join(summary.lines())
    assert "filtered: filtered:lang 2, filtered:quality 1" in lines
    assert "languages: en 1" in lines and "structures: other 1" in lines
    [stored] = [
        SanitizedRecord.model_validate_json(line)
        for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ]
    assert stored.features is not None and stored.features.lang == "en"


def test_policy_validation() -> None:
    with pytest.raises(ValidationError, match="filters need features.enabled"):
        SanitizerPolicy(features=FeaturesPolicy(enabled=False), filters=FiltersPolicy(languages=["en"]))
    with pytest.raises(ValidationError, match="need a features.tokenizer"):
        SanitizerPolicy(features=FeaturesPolicy(tokenizer="none"), filters=FiltersPolicy(max_tokens=100))
    with pytest.raises(ValidationError):
        FiltersPolicy(languages=["English"])
    with pytest.raises(ValidationError):
        FiltersPolicy(min_quality=1.5)
    with pytest.raises(ValidationError):
        FiltersPolicy(structures=["tweet"])
    with pytest.raises(ValidationError, match="minimum is above"):
        QualityThresholds(min_words=10, max_words=5)
    with pytest.raises(ValidationError):
        FeaturesPolicy(surprise=True)  # type: ignore[call-arg]
    assert not SanitizerPolicy().filters.active  # every filter off by default


def test_shipped_policy_keeps_features_on_and_every_filter_off() -> None:
    from services.sanitizer.core.policy import load_policy

    shipped = load_policy(Path(__file__).parents[3] / "config" / "sanitizer.yaml")
    assert shipped.features.enabled and shipped.features.tokenizer == "auto"
    assert not shipped.filters.active and shipped.filters.exempt_structures == [Structure.LOG]
