"""The PII scan of generations, with the sanitizer's own analyzer.

The sanitizer's recognizers (patterns for structured PII and secrets, spaCy NER for names) run here
exactly as the sanitizer runs them on records: through its ``Detector``, batched. It is the same analyzer
Presidio's ``AnalyzerEngine`` exposes as ``TunelineRecognizer`` (``sanitizer.adapters.presidio``);
calling it directly saves Presidio's per-text NLP pass. Pseudonym tokens (``<EMAIL_1a2b3c4d>``) that a
model learned from sanitized data are not PII and are not reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from services.evaluator.core.config import PiiScanConfig
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

    def scan(self, texts: Sequence[str]) -> list[dict[str, int]]:
        """Per text, entity type -> values found (empty: nothing found)."""
        if not texts:
            return []
        return [dict(Counter(span.entity for span in spans)) for spans in self._detector.detect_batch(texts)]
