"""The PII scan of generations, with the sanitizer's own detector (``libs.pii``).

The same recognizers (patterns for structured PII and secrets, spaCy NER for names) run here as the
sanitizer runs them on records: through ``Detector``, batched, configured by the ``detect`` and
``names`` sections of the same policy file. Pseudonym tokens (``<EMAIL_1a2b3c4d>``) that a
model learned from sanitized data, and the broken pieces of them it writes (``<EMAIL_1a2b``), are not
PII: they are blanked before detection (``core.pii.hide_placeholders``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from libs.pii.detect import Detector
from libs.pii.names import NerTagger
from libs.pii.policy import DetectionSections, NamesPolicy, load_detection_policy
from libs.pii.spacy_ner import load_ner
from services.evaluator.core.config import PiiScanConfig
from services.evaluator.core.pii import FoundPii, hide_placeholders


class PiiScanner:
    def __init__(self, detector: Detector) -> None:
        self._detector = detector

    @classmethod
    def from_policy(
        cls, policy: DetectionSections, names: bool = True, ner: NerTagger | None = None
    ) -> PiiScanner:
        """``names=False`` leaves person names out (no spaCy model to load); ``ner`` replaces the
        policy's spaCy model (tests)."""
        if not names:
            policy = policy.model_copy(update={"names": NamesPolicy(enabled=False)})
        elif ner is None:
            ner = load_ner(policy.names)
        return cls(Detector(policy, ner))

    @classmethod
    def from_config(cls, config: PiiScanConfig) -> PiiScanner:
        return cls.from_policy(load_detection_policy(Path(config.policy_file)), names=config.names)

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
