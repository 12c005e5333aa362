"""The model registry and evaluation reports, in the runs table; shared by the evaluator (which records
reports and promotes) and the admin API (which shows them, promotes by hand and rolls back).

Items (pk, sk):
- ``model#<dataset>``, ``production``: the run serving the dataset (``run_id``, ``model_uri``,
  ``promoted_at``, ``promoted_by``, ``action``, ``reason``, ``previous_run_id``) and ``history``, the
  list of every change, oldest first. One item, so a promotion and its audit entry are one conditional
  UpdateItem: no transaction needed, and two promoters racing cannot both win.
- ``run#<run_id>``, ``evaluation``: the evaluation report of a run (JSON) and its decision.
- ``model#<dataset>``, ``drift``: the latest continuous-evaluation (drift) report of the dataset's
  production model (JSON), where its Markdown and chart are (``report_dir``), the writer's
  ``records_total`` at that check, and ``history``: one small entry per check, oldest first (the chart's
  points), the latest ``MAX_DRIFT_HISTORY``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from libs.schemas import Table, table_name
from libs.storage.keys import DRIFT_SK, EVALUATION_SK, MODEL_PREFIX, PRODUCTION_SK, model_pk, run_pk

MAX_HISTORY: Final = 500  # entries of ~300 bytes keep the item far below DynamoDB's 400 KB
MAX_DRIFT_HISTORY: Final = 200  # a check's entry holds one number per source: a few hundred bytes


class RegistryError(Exception):
    pass


class NothingToRollBack(RegistryError):
    pass


@dataclass(frozen=True)
class DriftCheck:
    """The latest continuous-evaluation check of a dataset (``report`` as the evaluator wrote it)."""

    dataset: str
    run_id: str
    checked_at: dt.datetime
    records_total: int
    report: dict[str, Any]
    report_dir: str
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class Production:
    dataset: str
    run_id: str
    model_uri: str
    promoted_at: dt.datetime
    promoted_by: str
    action: str
    reason: str
    previous_run_id: str | None
    history: list[dict[str, Any]]


class ModelRegistry:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = table_name(Table.RUNS, prefix)

    @staticmethod
    def _key(dataset: str) -> dict[str, Any]:
        return {"pk": {"S": model_pk(dataset)}, "sk": {"S": PRODUCTION_SK}}

    def set_production(
        self,
        dataset: str,
        run_id: str,
        model_uri: str,
        expected_current: str | None,
        now: dt.datetime | None = None,
        actor: str = "evaluator",
        action: str = "promote",
        reason: str = "",
    ) -> bool:
        """Make ``run_id`` production if the current production run is still ``expected_current``
        (None: there is none yet); False when someone else changed it first."""
        when = (now or dt.datetime.now(dt.UTC)).isoformat()
        entry = {"run_id": run_id, "model_uri": model_uri, "at": when, "by": actor, "action": action,
                 "reason": reason, "previous_run_id": expected_current}  # fmt: skip
        values: dict[str, Any] = {
            ":dataset": {"S": dataset},
            ":run": {"S": run_id},
            ":uri": {"S": model_uri},
            ":at": {"S": when},
            ":by": {"S": actor},
            ":action": {"S": action},
            ":reason": {"S": reason},
            ":entry": {"L": [{"S": json.dumps(entry)}]},
            ":empty": {"L": []},
        }
        update = (
            "SET dataset = :dataset, run_id = :run, model_uri = :uri, promoted_at = :at, promoted_by = :by, "
            "#action = :action, reason = :reason, "
            "history = list_append(if_not_exists(history, :empty), :entry)"
        )
        if expected_current is None:
            condition = "attribute_not_exists(run_id)"
            update += " REMOVE previous_run_id"
        else:
            condition = "run_id = :expected"
            update += ", previous_run_id = :expected"
            values[":expected"] = {"S": expected_current}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(dataset),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#action": "action"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        self._trim(dataset)
        return True

    def _trim(self, dataset: str) -> None:
        current = self.production(dataset)
        if current is not None and len(current.history) > MAX_HISTORY:
            drop = ", ".join(f"history[{i}]" for i in range(len(current.history) - MAX_HISTORY))
            self._client.update_item(
                TableName=self._table, Key=self._key(dataset), UpdateExpression=f"REMOVE {drop}"
            )

    def production(self, dataset: str) -> Production | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(dataset), ConsistentRead=True).get(
            "Item"
        )
        if item is None or "run_id" not in item:
            return None
        return Production(
            dataset=item["dataset"]["S"],
            run_id=item["run_id"]["S"],
            model_uri=item["model_uri"]["S"],
            promoted_at=dt.datetime.fromisoformat(item["promoted_at"]["S"]),
            promoted_by=item.get("promoted_by", {}).get("S", ""),
            action=item.get("action", {}).get("S", "promote"),
            reason=item.get("reason", {}).get("S", ""),
            previous_run_id=item.get("previous_run_id", {}).get("S"),
            history=[json.loads(v["S"]) for v in item.get("history", {}).get("L", [])],
        )

    def production_all(self) -> dict[str, str]:
        """dataset -> production run id (a Scan: one item per dataset)."""
        out: dict[str, str] = {}
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :sk AND begins_with(pk, :p)",
            ExpressionAttributeValues={":sk": {"S": PRODUCTION_SK}, ":p": {"S": MODEL_PREFIX}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                if "run_id" in item:
                    out[item["dataset"]["S"]] = item["run_id"]["S"]
        return out

    def rollback(self, dataset: str, actor: str, reason: str, now: dt.datetime | None = None) -> Production:
        """Put back the model that was production before the current one; NothingToRollBack when there
        was none. Racing another change fails with RegistryError rather than undoing the wrong one."""
        current = self.production(dataset)
        if current is None or current.previous_run_id is None:
            raise NothingToRollBack(f"dataset {dataset!r} has no earlier production model to roll back to")
        earlier = next((e for e in reversed(current.history) if e["run_id"] == current.previous_run_id), None)
        if earlier is None:
            raise NothingToRollBack(f"the history of {dataset!r} no longer holds {current.previous_run_id}")
        if not self.set_production(dataset, earlier["run_id"], earlier["model_uri"], current.run_id, now,
                                   actor=actor, action="rollback", reason=reason):  # fmt: skip
            raise RegistryError(f"the production model of {dataset!r} changed meanwhile; look again")
        changed = self.production(dataset)
        assert changed is not None  # noqa: S101 - we just wrote it
        return changed

    # ---- evaluation reports -------------------------------------------------------------------------

    def put_evaluation(self, run_id: str, dataset: str, decision: str, report: dict[str, Any]) -> None:
        """Store (or replace: a re-evaluation gives the same numbers) the report of ``run_id``."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": run_pk(run_id)},
                "sk": {"S": EVALUATION_SK},
                "run_id": {"S": run_id},
                "dataset": {"S": dataset},
                "decision": {"S": decision},
                "report": {"S": json.dumps(report)},
                "evaluated_at": {"S": dt.datetime.now(dt.UTC).isoformat()},
            },
        )

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": EVALUATION_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return {
            "run_id": item["run_id"]["S"],
            "dataset": item["dataset"]["S"],
            "decision": item["decision"]["S"],
            "evaluated_at": item["evaluated_at"]["S"],
            "report": json.loads(item["report"]["S"]),
        }

    # ---- continuous evaluation (drift) --------------------------------------------------------------

    def put_drift(
        self,
        dataset: str,
        run_id: str,
        checked_at: dt.datetime,
        records_total: int,
        report: dict[str, Any],
        report_dir: str,
        entry: dict[str, Any],
    ) -> None:
        """Store the latest drift check of ``dataset`` and append ``entry`` to its history (the
        evaluator is its only writer; two checks racing lose at most one history entry)."""
        earlier = self.drift(dataset)
        history = [*(earlier.history if earlier else []), entry][-MAX_DRIFT_HISTORY:]
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": model_pk(dataset)},
                "sk": {"S": DRIFT_SK},
                "dataset": {"S": dataset},
                "run_id": {"S": run_id},
                "checked_at": {"S": checked_at.isoformat()},
                "records_total": {"N": str(records_total)},
                "report": {"S": json.dumps(report)},
                "report_dir": {"S": report_dir},
                "history": {"L": [{"S": json.dumps(h)} for h in history]},
            },
        )

    def drift(self, dataset: str) -> DriftCheck | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": model_pk(dataset)}, "sk": {"S": DRIFT_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return DriftCheck(
            dataset=item["dataset"]["S"],
            run_id=item["run_id"]["S"],
            checked_at=dt.datetime.fromisoformat(item["checked_at"]["S"]),
            records_total=int(item["records_total"]["N"]),
            report=json.loads(item["report"]["S"]),
            report_dir=item["report_dir"]["S"],
            history=[json.loads(v["S"]) for v in item.get("history", {}).get("L", [])],
        )
