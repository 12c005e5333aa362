"""The evaluation item of a run (``run#<id>``, ``evaluation``; written by ``ModelRegistry.put_evaluation``)
as the worker resumes from it, plus the one mark the worker adds: ``announced_at``, set once the
broker acknowledged the run's ``EvaluationCompleted`` (and ``ModelPromoted``).

The worker's steps are: report stored (the item exists) -> promotion (the registry's production item and
its history say whether the run was ever promoted) -> events (``announced_at``). A replayed event finds
what is done and completes the rest; a re-evaluation replaces the item, so its events go out again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from libs.schemas import Table, table_name
from libs.storage.keys import EVALUATION_SK, run_pk


@dataclass(frozen=True)
class StoredEvaluation:
    run_id: str
    decision: str
    evaluated_at: str
    report: dict[str, Any]
    announced_at: str | None


class Evaluations:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = table_name(Table.RUNS, prefix)

    @staticmethod
    def _key(run_id: str) -> dict[str, Any]:
        return {"pk": {"S": run_pk(run_id)}, "sk": {"S": EVALUATION_SK}}

    def get(self, run_id: str) -> StoredEvaluation | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(run_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        return StoredEvaluation(
            run_id=item["run_id"]["S"],
            decision=item["decision"]["S"],
            evaluated_at=item["evaluated_at"]["S"],
            report=json.loads(item["report"]["S"]),
            announced_at=item.get("announced_at", {}).get("S"),
        )

    def mark_announced(self, run_id: str, evaluated_at: str, now: dt.datetime | None = None) -> bool:
        """Mark the events of the evaluation stored at ``evaluated_at`` as sent; False when that
        evaluation has been replaced meanwhile (the new one announces itself)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression="SET announced_at = :now",
                ConditionExpression="evaluated_at = :evaluated",
                ExpressionAttributeValues={
                    ":now": {"S": (now or dt.datetime.now(dt.UTC)).isoformat()},
                    ":evaluated": {"S": evaluated_at},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
