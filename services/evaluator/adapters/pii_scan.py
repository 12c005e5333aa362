"""The PII scan of generations, with the sanitizer's own analyzer.

The sanitizer's recognizers (patterns for structured PII and secrets, spaCy NER for names) run here
exactly as the sanitizer runs them on records: through its ``Detector``, batched. It is the same analyzer
Presidio's ``AnalyzerEngine`` exposes as ``TunelineRecognizer`` (``sanitizer.adapters.presidio``);
calling it directly saves Presidio's per-text NLP pass. Pseudonym tokens (``<EMAIL_1a2b3c4d>``) that a
model learned from sanitized data, and the broken pieces of them it writes (``<EMAIL_1a2b``), are not
PII: they are blanked before detection (``core.pii.hide_placeholders``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from services.evaluator.core.config import PiiScanConfig
from services.evaluator.core.pii import FoundPii, hide_placeholders
from services.sanitizer.core.detect import Detector
from services.sanitizer.core.names import NerTagger
from services.sanitizer.core.policy import NamesPolicy, SanitizerPolicy, load_policy


class PiiScanner:
    def __init__(self, detector: Detector) -> None:
        self._detector = detector

    @classmethod
    def from_policy(
        cls, policy: SanitizerPolicy, names: bool = True, ner: NerTagger | None = None
    ) -> PiiScanner:
        """``names=False`` leaves person names out (no spaCy model to load); ``ner`` replaces the
        policy's spaCy model (tests)."""
        if not names:
            policy = policy.model_copy(update={"names": NamesPolicy(enabled=False)})
        elif ner is None:
            from services.sanitizer.build import load_ner

            ner = load_ner(policy)
        return cls(Detector(policy, ner))

    @classmethod
    def from_config(cls, config: PiiScanConfig) -> PiiScanner:
        return cls.from_policy(load_policy(Path(config.policy_file)), names=config.names)

    def find(self, texts: Sequence[str]) -> list[tuple[FoundPii, ...]]:
        """Per text, every value found (placeholders excluded), in text order."""
        if not texts:
            return []
        hidden = [hide_placeholders(text) for text in texts]
        return [
            tuple(FoundPii(span.entity, text[span.start : span.end]) for span in spans)
            for text, spans in zip(hidden, self._detector.detect_batch(hidden), strict=True)
        ]

    def scan(self, texts: Sequence[str]) -> list[dict[str, int]]:
        """Per text, entity type -> values found (empty: nothing found)."""
        return [dict(Counter(f.entity for f in found)) for found in self.find(texts)]
