from __future__ import annotations

from libs.storage.tables import canary_secrets_table, table_definitions


def test_canary_secrets_have_a_table_of_their_own() -> None:
    tables = {d["TableName"]: d for d in table_definitions("p-")}
    assert set(tables) == {"p-records", "p-state", "p-runs", "p-canary-secrets"}
    assert canary_secrets_table("p-") == "p-canary-secrets"
    assert tables["p-canary-secrets"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
