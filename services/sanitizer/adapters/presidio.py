"""Presidio's anonymizer engine running the sanitizer's operators.

``pseudonym``, ``hash`` and ``mask`` are custom Presidio operators around the pure functions in
``core.operators``; ``redact`` is Presidio's ``replace`` with ``<ENTITY>``, ``encrypt`` is Presidio's
AES ``encrypt`` (``reveal`` undoes it with the same key), ``keep`` is Presidio's ``keep``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import EntityRecognizer
from presidio_analyzer import RecognizerResult as AnalyzerResult
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult
from presidio_anonymizer.operators import AESCipher, Operator, OperatorType

from libs.pii.detect import Detector
from libs.pii.entities import ALL_ENTITIES, Span
from services.sanitizer.core import operators as ops
from services.sanitizer.core.errors import SanitizerError
from services.sanitizer.core.policy import AnonymizePolicy
from services.sanitizer.core.policy import Operator as Op

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keys:
    """Key material (from SecretStr settings; never logged). ``key_id`` is recorded on every record
    so that tokens made under an old key can be told apart after a rotation."""

    pseudonym_key: bytes = field(repr=False)
    key_id: str
    encryption_key: bytes | None = field(default=None, repr=False)


class _Pseudonym(Operator):
    def operate(self, text: str = "", params: dict[str, Any] | None = None) -> str:
        p = params or {}
        return ops.pseudonym(p["entity_type"], text, p["key"], p["hex_chars"])

    def validate(self, params: dict[str, Any] | None = None) -> None:
        if not (params or {}).get("key"):
            raise SanitizerError("pseudonym operator needs a key")

    def operator_name(self) -> str:
        return "tuneline_pseudonym"

    def operator_type(self) -> Any:
        return OperatorType.Anonymize


class _KeyedHash(_Pseudonym):
    def operate(self, text: str = "", params: dict[str, Any] | None = None) -> str:
        p = params or {}
        return ops.keyed_hash(p["entity_type"], text, p["key"])

    def operator_name(self) -> str:
        return "tuneline_hash"


class _Mask(_Pseudonym):
    def operate(self, text: str = "", params: dict[str, Any] | None = None) -> str:
        p = params or {}
        return ops.masked(text, p["keep_last"], p["char"])

    def validate(self, params: dict[str, Any] | None = None) -> None:
        return None

    def operator_name(self) -> str:
        return "tuneline_mask"


class PresidioReplacer:
    """``core.anonymize.Replacer`` on Presidio's ``AnonymizerEngine``."""

    def __init__(self, policy: AnonymizePolicy, keys: Keys) -> None:
        self._policy = policy
        self._keys = keys
        self._engine = AnonymizerEngine()  # type: ignore[no-untyped-call]
        for operator in (_Pseudonym, _KeyedHash, _Mask):
            self._engine.add_anonymizer(operator)
        if keys.encryption_key is None and (
            policy.default_operator is Op.ENCRYPT or Op.ENCRYPT in policy.entities.values()
        ):
            raise SanitizerError("the policy encrypts values but no encryption key is set")
        self._configs: dict[str, OperatorConfig] = {
            entity: self._config(entity, operator) for entity, operator in policy.entities.items()
        }
        self._configs["DEFAULT"] = self._config("DEFAULT", policy.default_operator)
        self._prepared_operators: dict[tuple[str, Op], tuple[Operator, dict[str, Any]]] = {}

    def _config(self, entity: str, operator: Op) -> OperatorConfig:
        if operator is Op.PSEUDONYM:
            return OperatorConfig(
                "tuneline_pseudonym",
                {"key": self._keys.pseudonym_key, "hex_chars": self._policy.token_hex_chars},
            )
        if operator is Op.HASH:
            return OperatorConfig("tuneline_hash", {"key": self._keys.pseudonym_key})
        if operator is Op.MASK:
            return OperatorConfig(
                "tuneline_mask", {"keep_last": self._policy.mask_keep_last, "char": self._policy.mask_char}
            )
        if operator is Op.ENCRYPT:
            if self._keys.encryption_key is None:
                raise SanitizerError("the policy encrypts values but no encryption key is set")
            return OperatorConfig("encrypt", {"key": self._keys.encryption_key})
        if operator is Op.KEEP:
            return OperatorConfig("keep", {})
        # REDACT: the type survives, the value does not. "DEFAULT" is resolved per entity below.
        return OperatorConfig("replace", {"new_value": ops.redacted(entity)})

    def _operators(self, spans: Sequence[Span]) -> dict[str, OperatorConfig]:
        operators = dict(self._configs)
        if self._policy.default_operator is Op.REDACT:
            for span in spans:
                if span.entity not in self._policy.entities:
                    operators[span.entity] = OperatorConfig(
                        "replace", {"new_value": ops.redacted(span.entity)}
                    )
        return operators

    def replace(self, text: str, spans: Sequence[Span]) -> str:
        """Disjoint spans (what the detector resolves to) are replaced in one pass, each value by the
        Presidio operator its entity is configured with, exactly as the engine would replace them.
        The engine's own run costs about half a millisecond per text in conflict checks, sorting and
        a text rebuilt once per value (quadratic in a text with thousands of values), a third of the
        stream's anonymize step. Overlapping spans still go to the engine, which resolves them."""
        ordered = sorted(spans, key=lambda s: (s.start, s.end))
        disjoint = all(a.end <= b.start for a, b in zip(ordered, ordered[1:], strict=False))
        if not disjoint or any(s.start >= s.end for s in ordered):
            return self._replace(text, ordered)
        parts: list[str] = []
        cut = 0
        for span in ordered:
            operator, params = self._prepared(span.entity, self._policy.operator_for(span.entity))
            parts.append(text[cut : span.start])
            parts.append(str(operator.operate(text=text[span.start : span.end], params=params)))
            cut = span.end
        parts.append(text[cut:])
        return "".join(parts)

    def _prepared(self, entity: str, operator: Op) -> tuple[Operator, dict[str, Any]]:
        """Presidio's operator for ``entity`` under ``operator``, with the params its engine would pass
        (validated once: they are the same for every value of the entity). ``_config(entity, ...)`` is
        what the engine resolves too: the entity's own config, or the default's, whose redaction names
        the entity (``_operators``)."""
        found = self._prepared_operators.get((entity, operator))
        if found is None:
            config = self._config(entity, operator)
            instance = self._engine.operators_factory.create_operator_class(
                config.operator_name, OperatorType.Anonymize
            )
            params = {**config.params, "entity_type": entity}
            instance.validate(params=params)
            found = self._prepared_operators[(entity, operator)] = (instance, params)
        return found

    def _replace(self, text: str, spans: Sequence[Span]) -> str:
        results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
        result = self._engine.anonymize(
            text, results, self._operators(spans), merge_entities_with_spaces=False
        )
        return str(result.text)

    def replace_value(self, value: str, entity: str, operator: Op | None) -> str:
        chosen = operator or self._policy.operator_for(entity)
        if not value:  # the engine's way with an empty value: nothing to replace
            return self._engine_value(value, entity, chosen)
        instance, params = self._prepared(entity, chosen)
        return str(instance.operate(text=value, params=params))

    def _engine_value(self, value: str, entity: str, operator: Op) -> str:
        results = [RecognizerResult(entity, 0, len(value), 1.0)]
        config = self._config(entity, operator)
        result = self._engine.anonymize(value, results, {entity: config}, merge_entities_with_spaces=False)
        return str(result.text)


def reveal(token: str, encryption_key: bytes) -> str:
    """The original value of an ``encrypt`` replacement (operators' use only: it is personal data)."""
    return str(AESCipher.decrypt(encryption_key, token))


def offline_tldextract() -> None:
    """Make Presidio's email recognizer use tldextract's bundled suffix list, without the network
    fetch it otherwise tries on first use (only the vanilla-Presidio benchmark runs that recognizer)."""
    from types import SimpleNamespace

    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the list in the wheel
    setattr(email_recognizer, "tldextract", SimpleNamespace(extract=extractor))  # noqa: B010


class TunelineRecognizer(EntityRecognizer):
    """The sanitizer's recognizers as one Presidio ``EntityRecognizer``, for code that wants Presidio's
    ``AnalyzerEngine`` API (``build_analyzer``). The stream and the CLI call the detector directly,
    batched, which is what makes them fast; the findings are the same."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        super().__init__(supported_entities=sorted(ALL_ENTITIES), name="TunelineRecognizer")

    def load(self) -> None:
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[AnalyzerResult]:
        wanted = set(entities or ALL_ENTITIES)
        return [
            AnalyzerResult(span.entity, span.start, span.end, span.score)
            for span in self._detector.detect(text)
            if span.entity in wanted
        ]


def build_analyzer(detector: Detector, nlp: Any) -> Any:
    """A Presidio ``AnalyzerEngine`` whose only recognizer is ``TunelineRecognizer`` (no DATE_TIME and
    friends), on the spaCy pipeline ``nlp`` for its NLP artifacts."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": nlp.meta["name"]}])
    engine.nlp = {"en": nlp}  # type: ignore[assignment]  # the loaded pipeline, not a second load
    registry = RecognizerRegistry(recognizers=[TunelineRecognizer(detector)], supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
