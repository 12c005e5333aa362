"""Assembles the sanitizer's steps from the policy: the same steps for the Faust agents and the CLI.

``prepare`` runs before the repartition by content hash (normalize, filter, hash), ``finish`` after
it (exact dedup, near dedup, anonymize, features, feature filters, route). The dedup steps only check;
``record`` (a ``DedupRecorder``) remembers a record once its output record is built, so a copy whose
first copy was dead-lettered is not dropped as a duplicate. ``Sanitizer.run`` chains all three for
offline use.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from libs.pii.detect import Detector
from libs.pii.errors import PiiConfigError
from libs.pii.names import NerTagger
from libs.schemas import RawRecord, SanitizedRecord
from services.sanitizer.adapters.presidio import Keys, PresidioReplacer
from services.sanitizer.core.anonymize import PiiAnonymizer
from services.sanitizer.core.dedup import Deduplicator, DedupRecorder, ExactDeduplicator
from services.sanitizer.core.errors import PolicyError
from services.sanitizer.core.features import FeatureExtractor, FeatureFilter
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.normalize import ContentHasher, LengthFilter, Normalizer
from services.sanitizer.core.pipeline import AnyStep, Dropped, Pipeline, Work, to_sanitized
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.core.route import DatasetRouter
from services.sanitizer.settings import SanitizerSettings

Observer = Callable[[str, float, int], None]


def load_ner(policy: SanitizerPolicy) -> NerTagger | None:
    """The policy's NER model (None: names off); a model that cannot load is a ``PolicyError``."""
    from libs.pii.spacy_ner import load_ner as load_names_model

    try:
        return load_names_model(policy.names)
    except PiiConfigError as exc:
        raise PolicyError(str(exc)) from exc


def feature_steps(policy: SanitizerPolicy) -> list[AnyStep]:
    """Features (after anonymization: they describe the text the model will see), then the filters on
    them. A tokenizer that cannot load is a ``PolicyError`` at start."""
    if not policy.features.enabled:
        return []
    from services.sanitizer.adapters.features import language_identifier, token_counter

    steps: list[AnyStep] = [
        FeatureExtractor(policy.features, language_identifier(), token_counter(policy.features.tokenizer))
    ]
    if policy.filters.active:
        steps.append(FeatureFilter(policy.filters))
    return steps


def prepare_steps(policy: SanitizerPolicy) -> list[AnyStep]:
    return [Normalizer(policy.normalize), LengthFilter(policy.normalize), ContentHasher()]


@dataclass
class FinishSteps:
    steps: list[AnyStep]
    record: DedupRecorder


def finish_steps(
    policy: SanitizerPolicy,
    keys: Keys,
    ner: NerTagger | None,
    seen: MutableMapping[str, str] | None = None,
    near: NearDeduplicator | None = None,
) -> FinishSteps:
    steps: list[AnyStep] = []
    dedups: list[Deduplicator] = []
    if policy.dedup.exact:
        dedups.append(ExactDeduplicator(seen if seen is not None else {}))
    if policy.dedup.near.enabled:
        dedups.append(near or NearDeduplicator(policy.dedup.near))
    steps.extend(dedups)
    detector = Detector(policy, ner)
    steps.append(PiiAnonymizer(detector, PresidioReplacer(policy.anonymize, keys), policy, keys.key_id))
    steps.extend(feature_steps(policy))
    steps.append(DatasetRouter(policy.datasets))
    return FinishSteps(steps, DedupRecorder(dedups))


_CHUNK = 1024  # records per pass offline (NearDeduplicator keeps the signatures of 4096 checked ones)


@dataclass
class Sanitizer:
    prepare: Pipeline
    finish: Pipeline
    record: DedupRecorder

    def run(
        self, records: Sequence[RawRecord], now: dt.datetime | None = None
    ) -> list[SanitizedRecord | Dropped]:
        """Sanitize a batch in order: one result per record (a ``SanitizedRecord`` or a ``Dropped``).
        Dedup history is remembered record by record, after each output record is built."""
        stamp = now or dt.datetime.now(dt.UTC)
        results: list[SanitizedRecord | Dropped] = []
        for start in range(0, len(records), _CHUNK):
            chunk = [Work.of(r) for r in records[start : start + _CHUNK]]
            for outcome in self.finish.run(self.prepare.run(chunk)):
                if isinstance(outcome, Dropped):
                    results.append(outcome)
                    continue
                sanitized = to_sanitized(outcome, stamp)
                recorded = self.record.process(outcome)
                results.append(recorded if isinstance(recorded, Dropped) else sanitized)
        return results


def build_sanitizer(
    policy: SanitizerPolicy,
    keys: Keys,
    ner: NerTagger | None = None,
    observe: Observer | None = None,
) -> Sanitizer:
    """An offline sanitizer (in-memory dedup history). ``ner=None`` loads the policy's model."""
    tagger = ner if ner is not None else load_ner(policy)
    finish = finish_steps(policy, keys, tagger)
    return Sanitizer(Pipeline(prepare_steps(policy), observe), Pipeline(finish.steps, observe), finish.record)


def freeze_loaded_objects() -> None:
    """Call once the models and tables are loaded: the objects that live as long as the process are
    moved out of the garbage collector's generations, so full collections stop walking them again and
    again (measured: 10-20% more records/s, offline and in the stream)."""
    gc.collect()
    gc.freeze()


def keys_from_settings(settings: SanitizerSettings) -> Keys:
    encryption = settings.encryption_key.get_secret_value().encode() if settings.encryption_key else None
    return Keys(
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        key_id=settings.pseudonym_key_id,
        encryption_key=encryption,
    )
