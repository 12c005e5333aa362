"""The pipeline: a plain list of small steps, each with one method, that a record walks through.

A step takes a ``Work`` item and returns it (possibly changed) or a ``Dropped`` with a reason. A step
that is cheaper on many records at once (NER) implements ``BatchStep`` instead. The same steps serve
the Faust agents (one record at a time, split around the repartition) and the offline CLI (batches).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from pydantic import JsonValue

from libs.schemas import RawRecord, RecordFeatures, SanitizedRecord


@dataclass
class Work:
    """A record on its way through the pipeline; steps fill in the rest."""

    record: RawRecord
    content: str
    fields: dict[str, JsonValue]
    content_hash: str = ""
    dataset: str = ""
    pii: Counter[str] = field(default_factory=Counter)
    metadata: dict[str, JsonValue] = field(default_factory=dict)  # added by the steps
    # The record's own metadata (table and primary key, path, url): scanned by the anonymizer like
    # the fields, since a primary key or a home directory can be personal.
    source_metadata: dict[str, JsonValue] = field(default_factory=dict)
    features: RecordFeatures | None = None  # the feature step's (None: the step is off)

    @classmethod
    def of(cls, record: RawRecord) -> Work:
        return cls(
            record=record,
            content=record.content,
            fields=dict(record.fields),
            source_metadata=dict(record.metadata),
        )


@dataclass(frozen=True)
class Dropped:
    """A record that leaves the pipeline. ``dead_letter`` drops (bad input, a failing recognizer) go to
    the dead-letter topic; the others (duplicates, too short) are counted and forgotten."""

    record: RawRecord
    reason: str
    detail: str = ""
    dead_letter: bool = False


Outcome = Work | Dropped


@runtime_checkable
class Step(Protocol):
    """One pure transformation or filter of a single record."""

    name: str

    def process(self, work: Work) -> Outcome: ...


@runtime_checkable
class BatchStep(Protocol):
    """A step that handles many records at once (same result as one at a time, only faster)."""

    name: str

    def process_batch(self, batch: Sequence[Work]) -> list[Outcome]: ...


AnyStep = Step | BatchStep


class Pipeline:
    """Runs records through ``steps`` in order; ``observe(step, seconds, records)`` sees each stage."""

    def __init__(
        self, steps: Sequence[AnyStep], observe: Callable[[str, float, int], None] | None = None
    ) -> None:
        self.steps = list(steps)
        self._observe = observe
        # checked once: isinstance against a runtime Protocol inspects every member, on each call
        self._batched = [isinstance(step, BatchStep) for step in self.steps]

    def run(self, batch: Iterable[Outcome]) -> list[Outcome]:
        """Process a batch; the result has one outcome per input, in input order."""
        outcomes = list(batch)
        for step, batched in zip(self.steps, self._batched, strict=True):
            live = [i for i, o in enumerate(outcomes) if isinstance(o, Work)]
            if not live:
                break
            started = time.perf_counter()
            if batched:
                works = [outcomes[i] for i in live]
                results = cast("BatchStep", step).process_batch([w for w in works if isinstance(w, Work)])
                for i, result in zip(live, results, strict=True):
                    outcomes[i] = result
            else:
                for i in live:
                    item = outcomes[i]
                    assert isinstance(item, Work)  # noqa: S101 - narrowed by `live`
                    outcomes[i] = cast("Step", step).process(item)
            if self._observe is not None:
                self._observe(step.name, time.perf_counter() - started, len(live))
        return outcomes

    def run_one(self, outcome: Outcome) -> Outcome:
        return self.run([outcome])[0]


def to_sanitized(work: Work, sanitized_at: dt.datetime) -> SanitizedRecord:
    """The output record of a work item that went through every step (``Route`` sets the dataset).

    Its metadata is the scanned ``source_metadata``, never ``record.metadata`` as collected."""
    record = work.record
    metadata = {**work.source_metadata, **work.metadata}
    return SanitizedRecord.model_validate(
        {
            "id": record.id,
            "source": record.source,
            "kind": record.kind,
            "content": work.content,
            "fields": work.fields,
            "metadata": metadata,
            "collected_at": record.collected_at,
            "dataset": work.dataset,
            "content_hash": work.content_hash,
            "pii": dict(work.pii),
            "sanitized_at": sanitized_at,
            "features": work.features,
        }
    )
