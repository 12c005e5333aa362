from __future__ import annotations

from collections.abc import Sequence

from libs.pii.policy import DetectionSections
from services.evaluator.adapters.pii_scan import PiiScanner
from services.evaluator.core.metrics import pii_stats


class FakeNer:
    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [[(t.index("Zed"), t.index("Zed") + 3, "PERSON")] if "Zed" in t else [] for t in texts]

    def common_words(self) -> frozenset[str]:
        return frozenset()


def test_generations_are_scanned_with_the_sanitizers_recognizers() -> None:
    scanner = PiiScanner.from_policy(DetectionSections(), names=False)
    found = scanner.scan(
        [
            "write to bob.smith@example.com or call +1 415 555 0134",
            "the owner is <EMAIL_1a2b3c4d>, ask <PERSON_0badf00d>",  # pseudonyms are not PII
            "the fox lives in the forest",
            "key AKIAIOSFODNN7EXAMPLE",
        ]
    )
    assert found == [{"EMAIL": 1, "PHONE": 1}, {}, {}, {"AWS_ACCESS_KEY": 1}]
    assert pii_stats(found).rate == 0.5
    assert scanner.scan([]) == []


def test_names_come_from_the_ner_model_when_enabled() -> None:
    scanner = PiiScanner.from_policy(DetectionSections(), names=True, ner=FakeNer())
    assert scanner.scan(["please ask Zed Wexler about it", "nothing here"]) == [{"PERSON": 1}, {}]
