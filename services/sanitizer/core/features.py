"""Features of a record: language, token count, structure and quality signals (Gopher / C4 style), and
the filter that drops records by them.

Pure: the language identifier and the tokenizer come in as functions (``adapters/features.py`` loads
them). The step runs after anonymization, so the features describe the text the model will see.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from pydantic import JsonValue

from libs.schemas.records import QualitySignals, RecordFeatures, RecordKind, Structure
from libs.training_data.formatting import PAIR_KEYS
from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import FeaturesPolicy, FiltersPolicy, QualityThresholds

# text -> (ISO 639 code, probability)
LanguageIdentifier = Callable[[str], tuple[str, float]]
# texts -> token count of each (no special tokens)
TokenCounter = Callable[[Sequence[str]], list[int]]

UNDETERMINED: Final = "und"
# Gopher's stop words: a document of real English prose holds at least two of them.
STOP_WORDS: Final = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
END_PUNCTUATION: Final = tuple(".!?\"'”’…")
_PUNCT: Final = string.punctuation + "“”‘’…«»"
_ELLIPSIS: Final = re.compile(r"\.\.\.|…")
_ALNUM: Final = re.compile(r"[^\W_]")
_ALPHA: Final = re.compile(r"[^\W\d_]")

# A line that opens with a timestamp or a log level, or a stack-trace frame.
_LOG_LINE: Final = re.compile(
    r"^(\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\[?(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b)"
    r"|^\s*(at [\w$.<>]+\(|File \"[^\"]+\", line \d+|Traceback \(most recent call last\))"
    r"|^\s*(Caused by: |[\w.]+(Exception|Error)\b)"
)
_QUESTION_MARK: Final = re.compile(r"^\s*(Q|Question)\s*[:.)-]", re.IGNORECASE | re.MULTILINE)
_ANSWER_MARK: Final = re.compile(r"^\s*(A|Answer)\s*[:.)-]", re.IGNORECASE | re.MULTILINE)
_LOG_FIELDS: Final = frozenset({"level", "severity", "loglevel", "log_level"})


def quality_signals(text: str, markers: Sequence[str] = ()) -> QualitySignals:
    """Gopher / C4 style statistics of ``text`` (words split on whitespace, lower-cased for n-grams)."""
    tokens = text.split()
    words = [t for t in tokens if _ALNUM.search(t)]
    stripped = [w.strip(_PUNCT) or w for w in words]
    lowered_words = [w.lower() for w in stripped]
    n_words = len(words)
    chars = sum(map(len, stripped))
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    symbols = text.count("#") + len(_ELLIPSIS.findall(text))
    boilerplate = 0
    if markers:
        boilerplate = sum(any(m in line for m in markers) for line in map(str.lower, lines))
    return QualitySignals(
        words=n_words,
        mean_word_length=_r(chars / n_words if n_words else 0.0),
        symbol_word_ratio=_r(symbols / n_words if n_words else float(symbols > 0)),
        alpha_word_fraction=_r(_share(sum(1 for t in tokens if _ALPHA.search(t)), len(tokens))),
        stop_words=sum(1 for w in lowered_words if w in STOP_WORDS),
        lines=len(lines),
        dup_line_fraction=_r(_share(len(lines) - len(set(lines)), len(lines))),
        top_2gram_fraction=_r(_top_ngram_fraction(lowered_words, 2, chars)),
        dup_5gram_fraction=_r(_dup_ngram_fraction(lowered_words, 5, chars)),
        end_punct_fraction=_r(_share(sum(1 for line in lines if line.endswith(END_PUNCTUATION)), len(lines))),
        boilerplate_fraction=_r(_share(boilerplate, len(lines))),
    )


def _r(value: float) -> float:
    return round(min(max(value, 0.0), 1e9), 4)


def _share(part: int, whole: int) -> float:
    return min(part / whole, 1.0) if whole else 0.0


def _top_ngram_fraction(words: list[str], n: int, chars: int) -> float:
    """Characters covered by the most frequent n-gram (counting every occurrence), over all word
    characters; 0 when no n-gram repeats."""
    if len(words) < n or not chars:
        return 0.0
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return min(count * sum(len(w) for w in gram) / chars, 1.0)


def _dup_ngram_fraction(words: list[str], n: int, chars: int) -> float:
    """Characters of the words inside an n-gram that occurs more than once, over all word characters."""
    if len(words) < n or not chars:
        return 0.0
    starts = list(zip(*(words[i:] for i in range(n)), strict=False))
    counts = Counter(starts)
    if len(counts) == len(starts):
        return 0.0
    covered = [False] * len(words)
    for i, gram in enumerate(starts):
        if counts[gram] > 1:
            covered[i : i + n] = [True] * n
    return min(sum(len(w) for w, c in zip(words, covered, strict=True) if c) / chars, 1.0)


def quality_issues(signals: QualitySignals, limits: QualityThresholds) -> tuple[list[str], float]:
    """The names of the failed checks, and the share of checks passed."""
    checks = {
        "min_words": signals.words >= limits.min_words,
        "max_words": signals.words <= limits.max_words,
        "mean_word_length": limits.min_mean_word_length
        <= signals.mean_word_length
        <= limits.max_mean_word_length,
        "symbol_word_ratio": signals.symbol_word_ratio <= limits.max_symbol_word_ratio,
        "alpha_word_fraction": signals.alpha_word_fraction >= limits.min_alpha_word_fraction,
        "stop_words": signals.stop_words >= limits.min_stop_words,
        "dup_line_fraction": signals.dup_line_fraction <= limits.max_dup_line_fraction,
        "top_2gram_fraction": signals.top_2gram_fraction <= limits.max_top_2gram_fraction,
        "dup_5gram_fraction": signals.dup_5gram_fraction <= limits.max_dup_5gram_fraction,
        "end_punct_fraction": signals.end_punct_fraction >= limits.min_end_punct_fraction,
        "boilerplate_fraction": signals.boilerplate_fraction <= limits.max_boilerplate_fraction,
    }
    failed = [name for name, ok in checks.items() if not ok]
    return failed, round(1 - len(failed) / len(checks), 4)


def detect_structure(kind: RecordKind, content: str, fields: Mapping[str, JsonValue]) -> Structure:
    """qa: the fields hold a prompt/response pair (as the trainer reads them) or the text is written as
    Q:/A:; log: a log source, log fields, or mostly log-shaped lines; article: two paragraphs or more
    and 40 words, or 150 words; other: the rest."""
    keys = {k.lower() for k, v in fields.items() if isinstance(v, str) and v.strip()}
    if any(p in keys and r in keys for p, r in PAIR_KEYS):
        return Structure.QA
    if _QUESTION_MARK.search(content) and _ANSWER_MARK.search(content):
        return Structure.QA
    lines = [line for line in content.split("\n") if line.strip()]
    if kind is RecordKind.LOG or keys & _LOG_FIELDS:
        return Structure.LOG
    if lines and sum(bool(_LOG_LINE.search(line)) for line in lines) * 2 >= len(lines):
        return Structure.LOG
    paragraphs = [p for p in content.split("\n\n") if p.strip()]
    words = len(content.split())
    if (len(paragraphs) >= 2 and words >= 40) or words >= 150:
        return Structure.ARTICLE
    return Structure.OTHER


def _letters(text: str) -> int:
    return len(_ALPHA.findall(text))


class FeatureExtractor:
    """Adds ``RecordFeatures`` to every record (a batch step: the tokenizer counts a batch at once)."""

    name = "features"

    def __init__(
        self,
        policy: FeaturesPolicy,
        identify: LanguageIdentifier,
        count_tokens: TokenCounter | None,
    ) -> None:
        self._policy = policy
        self._identify = identify
        self._count = count_tokens
        self._markers = tuple(m.lower() for m in policy.boilerplate_markers)

    def process_batch(self, batch: Sequence[Work]) -> list[Outcome]:
        texts = [w.content for w in batch]
        counts: list[int | None] = (
            list(self._count(texts)) if self._count is not None else [None] * len(texts)
        )
        for work, text, tokens in zip(batch, texts, counts, strict=True):
            work.features = self.features(work.record.kind, text, work.fields, tokens)
        return list(batch)

    def features(
        self, kind: RecordKind, text: str, fields: Mapping[str, JsonValue], tokens: int | None
    ) -> RecordFeatures:
        lang, score = UNDETERMINED, 0.0
        sample = text[: self._policy.language.sample_chars]
        if _letters(sample) >= self._policy.language.min_chars:
            lang, score = self._identify(sample)
            score = round(min(max(score, 0.0), 1.0), 4)
            if score < self._policy.language.min_score:
                lang = UNDETERMINED
        signals = quality_signals(text, self._markers)
        issues, quality = quality_issues(signals, self._policy.quality)
        return RecordFeatures(
            lang=lang,
            lang_score=score,
            tokens=tokens,
            structure=detect_structure(kind, text, fields),
            quality=quality,
            quality_issues=issues,
            signals=signals,
        )


class FeatureFilter:
    """Drops records by their features (``filtered:lang``, ``filtered:quality``, ``filtered:structure``,
    ``filtered:tokens``): counted by reason, not dead-lettered. ``exempt_structures`` skip the language
    and quality filters."""

    name = "filter"

    def __init__(self, policy: FiltersPolicy) -> None:
        self._policy = policy

    def process(self, work: Work) -> Outcome:
        features = work.features
        if features is None:
            return work
        policy = self._policy
        if policy.structures and features.structure not in policy.structures:
            return self._drop(work, "structure", f"structure {features.structure.value}")
        if policy.min_tokens is not None or policy.max_tokens is not None:
            tokens = features.tokens or 0
            if (policy.min_tokens is not None and tokens < policy.min_tokens) or (
                policy.max_tokens is not None and tokens > policy.max_tokens
            ):
                return self._drop(work, "tokens", f"{tokens} tokens")
        if features.structure in policy.exempt_structures:
            return work
        if policy.languages and features.lang != UNDETERMINED and features.lang not in policy.languages:
            return self._drop(work, "lang", f"language {features.lang} ({features.lang_score:.2f})")
        if policy.min_quality is not None and features.quality < policy.min_quality:
            return self._drop(
                work, "quality", f"quality {features.quality:.2f}: {', '.join(features.quality_issues)}"
            )
        return work

    @staticmethod
    def _drop(work: Work, what: str, detail: str) -> Dropped:
        return Dropped(work.record, f"filtered:{what}", detail)
