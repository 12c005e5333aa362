"""What any service may read of a training run: its item in the runs table (``run#<id>``, ``run``).

The trainer owns the run item and writes one attribute per field of its ``RunRecord``; other services
(the evaluator's ``tuneline evaluate RUN_ID``, operators' tools) only need which dataset it trained,
whether it succeeded, where its model is and which base model it tuned. They read that here instead of
importing the trainer. The evaluator trusts only this record, never what a ``TrainingCompleted`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from libs.schemas import Table, table_name
from libs.storage.keys import RUN_SK, run_pk


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    dataset: str
    state: str  # queued, running, succeeded, failed, cancelled ...
    model_uri: str | None
    base_model: str | None = None


def read_run(client: Any, table_prefix: str, run_id: str) -> RunSummary | None:
    """The run's summary (strongly consistent read), or None when there is no such run."""
    item = client.get_item(
        TableName=table_name(Table.RUNS, table_prefix),
        Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        return None
    return RunSummary(
        run_id=item["run_id"]["S"],
        dataset=item["dataset"]["S"],
        state=item["state"]["S"],
        model_uri=item.get("model_uri", {}).get("S"),
        base_model=item.get("base_model", {}).get("S"),
    )
