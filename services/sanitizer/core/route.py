"""The last step: the dataset a record feeds, from the source (``datasets`` in the policy)."""

from __future__ import annotations

from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import DatasetPolicy


class DatasetRouter:
    name = "route"

    def __init__(self, policy: DatasetPolicy) -> None:
        self._policy = policy

    def process(self, work: Work) -> Outcome:
        dataset = self._policy.dataset_for(work.record.source)
        if dataset is None:
            return Dropped(work.record, "no_dataset", f"source {work.record.source!r} feeds no dataset")
        work.dataset = dataset
        return work
