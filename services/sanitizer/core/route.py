"""The last step: the dataset a record feeds, from the source (``datasets`` in the policy). A record
of a source that feeds no dataset is dead-lettered (``no_dataset``): a missing or wrong policy entry
must show, not make a source's records vanish."""

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
            return Dropped(
                work.record,
                "no_dataset",
                f"source {work.record.source!r} feeds no dataset",
                dead_letter=True,
            )
        work.dataset = dataset
        return work
