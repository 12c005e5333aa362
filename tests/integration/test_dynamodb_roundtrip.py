"""boto3 against the real DynamoDB-compatible server: the table shape and calls the writer relies on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _create_records_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "dataset_shard", "AttributeType": "S"},
            {"AttributeName": "ingested_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_dataset_time",
                "KeySchema": [
                    {"AttributeName": "dataset_shard", "KeyType": "HASH"},
                    {"AttributeName": "ingested_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})


def test_create_batch_write_and_query_by_index(dynamodb_client: Any, table_prefix: str) -> None:
    table = f"{table_prefix}records"
    _create_records_table(dynamodb_client, table)
    items = [
        {
            "id": {"S": f"rec-{i}"},
            "dataset_shard": {"S": f"support#{i % 4}"},
            "ingested_at": {"N": str(1000 + i)},
            "content": {"S": f"record {i}"},
            "pii": {"M": {"EMAIL_ADDRESS": {"N": str(i % 3)}}},
        }
        for i in range(120)
    ]
    for start in range(0, len(items), 25):  # BatchWriteItem takes at most 25 puts
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        response = dynamodb_client.batch_write_item(RequestItems={table: batch})
        assert not response.get("UnprocessedItems")

    shard = dynamodb_client.query(
        TableName=table,
        IndexName="by_dataset_time",
        KeyConditionExpression="dataset_shard = :s AND ingested_at >= :t",
        ExpressionAttributeValues={":s": {"S": "support#1"}, ":t": {"N": "1050"}},
    )
    expected = sorted(i for i in range(120) if i % 4 == 1 and 1000 + i >= 1050)
    assert [int(item["ingested_at"]["N"]) - 1000 for item in shard["Items"]] == expected

    stored = dynamodb_client.scan(TableName=table, Select="COUNT")
    assert stored["Count"] == 120


def test_idempotent_put_and_atomic_counter(dynamodb_client: Any, table_prefix: str) -> None:
    import boto3

    table = f"{table_prefix}state"
    dynamodb_client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb_client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=dynamodb_client.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="tuneline",
        aws_secret_access_key="tuneline",
    ).Table(table)
    for batch in (7, 5, 11):
        resource.update_item(
            Key={"pk": "dataset#support"},
            UpdateExpression="ADD records_since_training :n",
            ExpressionAttributeValues={":n": batch},
        )
    assert resource.get_item(Key={"pk": "dataset#support"})["Item"]["records_since_training"] == Decimal(23)

    resource.put_item(
        Item={"pk": "lease#support", "owner": "a"}, ConditionExpression="attribute_not_exists(pk)"
    )
    with pytest.raises(dynamodb_client.exceptions.ConditionalCheckFailedException):
        resource.put_item(
            Item={"pk": "lease#support", "owner": "b"}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert resource.get_item(Key={"pk": "lease#support"})["Item"]["owner"] == "a"
