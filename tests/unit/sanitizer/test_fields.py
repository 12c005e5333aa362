"""Field and metadata shapes the anonymizer must see into: numbers, nested lists, objects in lists,
dict keys, SQL primary keys and paths in the metadata, and ``keep`` fields."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from pydantic import JsonValue

from libs.pii.detect import Detector
from libs.schemas import RawRecord
from services.sanitizer.adapters.presidio import PresidioReplacer
from services.sanitizer.core.anonymize import PiiAnonymizer, home_users
from services.sanitizer.core.pipeline import Work
from services.sanitizer.core.policy import SanitizerPolicy
from tests.unit.sanitizer.conftest import KEYS, FakeNer

POLICY = SanitizerPolicy.model_validate(
    {
        "fields": {
            "*": {"id": "keep", "ticket_id": "keep"},
            "crm": {"email": "EMAIL", "ssn": "drop", "items.secret": "drop", "tier": "keep"},
        }
    }
)
TOKEN = r"<{}_[0-9a-f]{{8}}>"


def run(
    make_record: Callable[..., RawRecord],
    fields: dict[str, JsonValue] | None = None,
    metadata: dict[str, JsonValue] | None = None,
    source: str = "crm",
    people: tuple[str, ...] = (),
) -> Work:
    step = PiiAnonymizer(
        Detector(POLICY, FakeNer(people)), PresidioReplacer(POLICY.anonymize, KEYS), POLICY, KEYS.key_id
    )
    record = make_record("a plain record", source=source, fields=fields or {}, metadata=metadata or {})
    (out,) = step.process_batch([Work.of(record)])
    assert isinstance(out, Work), out
    return out


def test_long_integers_are_scanned_and_replaced_whole(make_record: Callable[..., RawRecord]) -> None:
    out = run(
        make_record,
        {"phone": 14155552671, "card": 4111111111111111, "seats": 12, "order": 20250501, "ratio": 0.5},
        source="support",
    )
    assert re.fullmatch(TOKEN.format("PHONE"), str(out.fields["phone"]))  # the field name is context
    assert re.fullmatch(TOKEN.format("CREDIT_CARD"), str(out.fields["card"]))  # a string now
    assert out.fields["seats"] == 12 and out.fields["order"] == 20250501 and out.fields["ratio"] == 0.5
    assert out.pii == {"PHONE": 1, "CREDIT_CARD": 1}


def test_nested_lists_are_scanned(make_record: Callable[..., RawRecord]) -> None:
    out = run(make_record, {"grid": [["ok", ["bob@corp.io"]], [4111111111111111]]}, source="support")
    grid = out.fields["grid"]
    assert isinstance(grid, list) and isinstance(grid[0], list) and isinstance(grid[1], list)
    assert grid[0][0] == "ok" and isinstance(grid[0][1], list)
    assert re.fullmatch(TOKEN.format("EMAIL"), str(grid[0][1][0]))
    assert re.fullmatch(TOKEN.format("CREDIT_CARD"), str(grid[1][0]))
    assert "bob@corp.io" not in str(out.fields)


def test_objects_in_lists_follow_the_field_policies(make_record: Callable[..., RawRecord]) -> None:
    items: list[JsonValue] = [
        {"email": "ann@corp.io", "secret": "x", "note": "call +1 415 555 2671"},
        {"email": "bob@corp.io", "tier": "gold"},
    ]
    out = run(make_record, {"items": items})  # used to dead-letter the record (AssertionError)
    listed = out.fields["items"]
    assert isinstance(listed, list)
    first, second = listed
    assert isinstance(first, dict) and isinstance(second, dict)
    assert re.fullmatch(TOKEN.format("EMAIL"), str(first["email"]))
    assert "secret" not in first  # policy `items.secret: drop` (the path leaves the index out)
    assert "<PHONE_" in str(first["note"]) and "555" not in str(first["note"])
    assert second["tier"] == "gold" and re.fullmatch(TOKEN.format("EMAIL"), str(second["email"]))


def test_dict_keys_are_scanned(make_record: Callable[..., RawRecord]) -> None:
    out = run(make_record, {"scores": {"alice@x.com": 3, "plain_key": 4, "Total 2024": 7}}, source="support")
    scores = out.fields["scores"]
    assert isinstance(scores, dict) and "alice@x.com" not in str(out.fields)
    assert scores["plain_key"] == 4 and scores["Total 2024"] == 7
    (token,) = [k for k in scores if k.startswith("<")]
    assert re.fullmatch(TOKEN.format("EMAIL"), token) and scores[token] == 3
    assert out.pii == {"EMAIL": 1}


def test_keys_replaced_by_the_same_token_are_all_kept(make_record: Callable[..., RawRecord]) -> None:
    policy = SanitizerPolicy.model_validate({"anonymize": {"default_operator": "redact"}})
    step = PiiAnonymizer(Detector(policy, FakeNer()), PresidioReplacer(policy.anonymize, KEYS), policy, "k")
    record = make_record("a plain record", fields={"m": {"a@x.io": 1, "b@x.io": 2}})
    (out,) = step.process_batch([Work.of(record)])
    assert isinstance(out, Work) and out.fields["m"] == {"<EMAIL>": 1, "<EMAIL>#2": 2}


def test_keep_still_refuses_structured_pii_and_secrets(make_record: Callable[..., RawRecord]) -> None:
    fields: dict[str, JsonValue] = {
        "id": "alice@example.com",
        "ticket_id": "T-2024-0042",
        "tier": "Alice Martin",  # names are not refused by keep
    }
    out = run(make_record, fields, people=("Alice Martin",))
    assert re.fullmatch(TOKEN.format("EMAIL"), str(out.fields["id"]))
    assert out.fields["ticket_id"] == "T-2024-0042" and out.fields["tier"] == "Alice Martin"


def test_sql_primary_key_in_metadata_follows_the_field_policies(
    make_record: Callable[..., RawRecord],
) -> None:
    metadata: dict[str, JsonValue] = {
        "table": "public.users",
        "key": {"email": "alice@example.com", "ssn": "123-45-6789", "id": 42},
    }
    out = run(make_record, {"email": "alice@example.com"}, metadata)
    key = out.source_metadata["key"]
    assert isinstance(key, dict) and out.source_metadata["table"] == "public.users"
    assert key["email"] == out.fields["email"]  # the same pseudonym as the field
    assert re.fullmatch(TOKEN.format("EMAIL"), str(key["email"]))
    assert "ssn" not in key and key["id"] == 42  # `ssn: drop`, `id: keep`
    assert "alice@example.com" not in str(out.source_metadata)


def test_log_metadata_keeps_positions_and_hides_the_user(make_record: Callable[..., RawRecord]) -> None:
    metadata: dict[str, JsonValue] = {
        "path": "/home/alice.martin/logs/app.log",
        "offset": 123456789,
        "lines": 3,
        "fingerprint": "9f86d081884c7d659a2feaa0c55ad015",
    }
    out = run(make_record, metadata=metadata, source="app-logs")
    meta = out.source_metadata
    assert re.fullmatch(r"/home/" + TOKEN.format("USERNAME") + r"/logs/app\.log", str(meta["path"]))
    assert meta["offset"] == 123456789 and meta["lines"] == 3  # positions, not phone numbers
    assert meta["fingerprint"] == metadata["fingerprint"]
    mailed = run(make_record, metadata={"path": "/home/bob@corp.io/x.log"}, source="app-logs")
    assert re.fullmatch(r"/home/" + TOKEN.format("EMAIL") + r"/x\.log", str(mailed.source_metadata["path"]))


@pytest.mark.parametrize(
    ("text", "users"),
    [
        ("/home/alice/app.log", ["alice"]),
        ("C:\\Users\\bob.smith\\AppData\\x.log", ["bob.smith"]),
        ("/Users/carol/Library/Logs/a.log", ["carol"]),
        ("/home/ubuntu/app.log", []),
        ("/var/log/nginx/access.log", []),
        ("https://api.example.com/users/12345", []),
    ],
)
def test_home_directories(text: str, users: list[str]) -> None:
    assert [text[s.start : s.end] for s in home_users(text)] == users
