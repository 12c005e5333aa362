"""The detector: pattern recognizers, then names, then one non-overlapping set of spans per text."""

from __future__ import annotations

from collections.abc import Sequence

from libs.pii.entities import Span
from libs.pii.names import NameFinder, NerTagger
from libs.pii.patterns import PatternDetector
from libs.pii.policy import DetectionPolicy
from libs.pii.stopwords import STOP_WORDS

NAME_PRIORITY = 30


def resolve(found: Sequence[tuple[Span, int]]) -> list[Span]:
    """Keep the highest-priority (then longest) finding wherever findings overlap; sorted by start.

    Greedy in that order, with the characters already kept marked in a bytearray: a finding is kept
    when its range has no mark. Each rule's matches do not overlap one another, so the marks looked at
    add up to a few times the text's length: linear after the sort, however many findings a text has.
    """
    if not found:
        return []
    ordered = sorted(found, key=lambda f: (-f[1], -(f[0].end - f[0].start), f[0].start))
    taken = bytearray(max(span.end for span, _ in found))
    kept: list[Span] = []
    for span, _ in ordered:
        if span.end > span.start and taken.find(1, span.start, span.end) < 0:
            taken[span.start : span.end] = b"\x01" * (span.end - span.start)
            kept.append(span)
    return sorted(kept)


class Detector:
    """Finds PII and secrets in many texts at once (the NER model is called once per batch)."""

    def __init__(
        self,
        policy: DetectionPolicy,
        ner: NerTagger | None = None,
        common_words: frozenset[str] | None = None,
    ) -> None:
        self.patterns = PatternDetector(policy.detect)
        self.names: NameFinder | None = None
        if policy.names.enabled:
            stop = STOP_WORDS | frozenset(w.lower() for w in policy.names.extra_stop_words)
            if common_words is None:
                common_words = ner.common_words() if ner is not None else frozenset()
            self.names = NameFinder(ner, policy.names.window_words, stop, common_words)

    def detect_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        found = [self.patterns.find(text) for text in texts]
        resolved = [resolve(f) for f in found]
        if self.names is None:
            return resolved
        names = self.names.find_batch(texts, resolved)
        return [
            resolve(f + [(span, NAME_PRIORITY) for span in n]) if n else r
            for f, n, r in zip(found, names, resolved, strict=True)
        ]

    def detect(self, text: str) -> list[Span]:
        return self.detect_batch([text])[0]
