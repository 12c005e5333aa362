"""The DynamoDB tables (DESIGN.md): records, state, runs, and the evaluator's canary secrets.
``init_tables`` creates them idempotently; production uses the same definitions (see README, "IAM")."""

from __future__ import annotations

import logging
from typing import Any, Final

from libs.schemas import Table, table_name
from libs.storage.items import INDEX_NAME
from libs.storage.keys import dataset_pk

log = logging.getLogger(__name__)

# The secrets of the planted canaries, in a table of their own so that one IAM rule can keep them from
# everyone but the evaluator (and the hand that plants them); the state table, which the writer and
# the trainer use, holds none.
CANARY_SECRETS_TABLE: Final = "canary-secrets"  # noqa: S105 - a table name


def canary_secrets_table(prefix: str) -> str:
    return f"{prefix}{CANARY_SECRETS_TABLE}"


def table_definitions(prefix: str) -> list[dict[str, Any]]:
    on_demand = {"BillingMode": "PAY_PER_REQUEST"}
    return [
        {
            "TableName": table_name(Table.RECORDS, prefix),
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "dataset_shard", "AttributeType": "S"},
                {"AttributeName": "ingested_at", "AttributeType": "N"},
            ],
            # Snapshots query every shard of a dataset up to a watermark of ingestion time.
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": INDEX_NAME,
                    "KeySchema": [
                        {"AttributeName": "dataset_shard", "KeyType": "HASH"},
                        {"AttributeName": "ingested_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            **on_demand,
        },
        {  # per-dataset counters (pk "dataset#<name>") and scheduler leases (pk "lease#<name>")
            "TableName": table_name(Table.STATE, prefix),
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            **on_demand,
        },
        {  # training runs, evaluation reports, model registry: pk "run#<id>" / "model#<alias>", sk kind
            "TableName": table_name(Table.RUNS, prefix),
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            **on_demand,
        },
        {  # planted canaries, key "id" (random): their secrets; read by the evaluator only
            "TableName": canary_secrets_table(prefix),
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            **on_demand,
        },
    ]


def init_tables(client: Any, prefix: str) -> list[str]:
    """Create the tables that are missing and wait until all are active; returns the names created."""
    created = []
    for definition in table_definitions(prefix):
        name = definition["TableName"]
        try:
            client.create_table(**definition)
            created.append(name)
            log.info("created table", extra={"table": name})
        except client.exceptions.ResourceInUseException:
            pass  # already there
    for definition in table_definitions(prefix):
        client.get_waiter("table_exists").wait(
            TableName=definition["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
    return created


class DatasetCounters:
    """``records_total`` and ``records_since_training`` per dataset, added atomically (UpdateItem ADD).

    At-least-once: a batch replayed after a crash is counted again. The trainer treats the counter
    as a hint to look, never as the truth about how many records exist.
    """

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = table_name(Table.STATE, prefix)

    def add(self, counts: dict[str, int], now_iso: str) -> None:
        for dataset, count in counts.items():
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": dataset_pk(dataset)}},
                UpdateExpression="ADD records_total :n, records_since_training :n SET updated_at = :now",
                ExpressionAttributeValues={":n": {"N": str(count)}, ":now": {"S": now_iso}},
            )

    def get(self, dataset: str) -> dict[str, int]:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": dataset_pk(dataset)}}, ConsistentRead=True
        ).get("Item", {})
        return {k: int(v["N"]) for k, v in item.items() if "N" in v}
