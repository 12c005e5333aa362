"""Assembles the sanitizer's steps from the policy: the same steps for the Faust agents and the CLI.

``prepare`` runs before the repartition by content hash (normalize, filter, hash), ``finish`` after
it (exact dedup, near dedup, anonymize, route). ``Sanitizer.run`` chains both for offline use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from libs.schemas import RawRecord, SanitizedRecord
from services.sanitizer.adapters.presidio import Keys, PresidioReplacer
from services.sanitizer.core.anonymize import PiiAnonymizer
from services.sanitizer.core.dedup import ExactDeduplicator
from services.sanitizer.core.detect import Detector
from services.sanitizer.core.minhash import NearDeduplicator
from services.sanitizer.core.names import NerTagger
from services.sanitizer.core.normalize import ContentHasher, LengthFilter, Normalizer
from services.sanitizer.core.pipeline import AnyStep, Dropped, Outcome, Pipeline, Work, to_sanitized
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.core.route import DatasetRouter
from services.sanitizer.settings import SanitizerSettings

Observer = Callable[[str, float, int], None]


def load_ner(policy: SanitizerPolicy) -> NerTagger | None:
    if not policy.names.enabled:
        return None
    from services.sanitizer.adapters.spacy_ner import SpacyNerTagger

    return SpacyNerTagger.load(policy.names.model, policy.names.batch_size)


def prepare_steps(policy: SanitizerPolicy) -> list[AnyStep]:
    return [Normalizer(policy.normalize), LengthFilter(policy.normalize), ContentHasher()]


def finish_steps(
    policy: SanitizerPolicy,
    keys: Keys,
    ner: NerTagger | None,
    seen: MutableMapping[str, str] | None = None,
    near: NearDeduplicator | None = None,
) -> list[AnyStep]:
    steps: list[AnyStep] = []
    if policy.dedup.exact:
        steps.append(ExactDeduplicator(seen if seen is not None else {}))
    if policy.dedup.near.enabled:
        steps.append(near or NearDeduplicator(policy.dedup.near))
    detector = Detector(policy, ner)
    steps.append(PiiAnonymizer(detector, PresidioReplacer(policy.anonymize, keys), policy, keys.key_id))
    steps.append(DatasetRouter(policy.datasets))
    return steps


@dataclass
class Sanitizer:
    prepare: Pipeline
    finish: Pipeline

    def run(
        self, records: Sequence[RawRecord], now: dt.datetime | None = None
    ) -> list[SanitizedRecord | Dropped]:
        """Sanitize a batch in order: one result per record (a ``SanitizedRecord`` or a ``Dropped``)."""
        stamp = now or dt.datetime.now(dt.UTC)
        outcomes: list[Outcome] = self.finish.run(self.prepare.run([Work.of(r) for r in records]))
        return [to_sanitized(o, stamp) if isinstance(o, Work) else o for o in outcomes]


def build_sanitizer(
    policy: SanitizerPolicy,
    keys: Keys,
    ner: NerTagger | None = None,
    observe: Observer | None = None,
) -> Sanitizer:
    """An offline sanitizer (in-memory dedup history). ``ner=None`` loads the policy's model."""
    tagger = ner if ner is not None else load_ner(policy)
    return Sanitizer(
        Pipeline(prepare_steps(policy), observe), Pipeline(finish_steps(policy, keys, tagger), observe)
    )


def keys_from_settings(settings: SanitizerSettings) -> Keys:
    encryption = settings.encryption_key.get_secret_value().encode() if settings.encryption_key else None
    return Keys(
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        key_id=settings.pseudonym_key_id,
        encryption_key=encryption,
    )
