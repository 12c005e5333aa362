"""The DeadLetter schema: one shape for every dead-letter topic, its payloads exact or visibly cut."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.schemas import DeadLetter, Payload, SchemaDecodeError, decode, encode, export_json_schemas

NOW = dt.datetime(2026, 12, 6, 7, 30, tzinfo=dt.UTC)


def test_round_trip_with_kafka_coordinates_and_original_message() -> None:
    letter = DeadLetter(
        reason="invalid_record",
        detail="SanitizedRecord.dataset: Field required",
        service="writer",
        source_topic="sanitized.records",
        source_partition=2,
        source_offset=41,
        key=Payload.of(b"support:abc"),
        value=Payload.of(b'{"id": "support:abc"}'),
        headers={"kind": "log"},
        dead_lettered_at=NOW,
    )
    assert decode(DeadLetter, encode(letter)) == letter
    body = json.loads(encode(letter))
    assert body["schema_version"] == 1 and body["value"]["data"] == '{"id": "support:abc"}'
    assert body["value"] == {
        "encoding": "utf-8",
        "data": '{"id": "support:abc"}',
        "size": 21,
        "truncated": False,
    }


def test_an_input_outside_kafka_has_where_instead_of_coordinates() -> None:
    letter = DeadLetter(
        reason="unparseable_line",
        service="collector",
        source="app-logs",
        where={"path": "/var/log/app.log", "offset": 1234},
        dead_lettered_at=NOW,
    )
    again = decode(DeadLetter, encode(letter))
    assert again.source_topic is None and again.source_offset is None and again.value is None
    assert again.where == {"path": "/var/log/app.log", "offset": 1234}


@pytest.mark.parametrize(
    "data", [b"", b"plain text", "caf\u00e9 \u2603".encode(), b"\xff\xfe\x00binary", bytes(range(256))]
)
def test_payload_keeps_the_exact_bytes(data: bytes) -> None:
    payload = Payload.of(data)
    assert payload.raw() == data and payload.size == len(data) and not payload.truncated
    assert payload.encoding == ("utf-8" if _is_utf8(data) else "base64")
    assert decode(Payload, encode(payload)).raw() == data


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=220))
def test_a_cut_payload_is_a_prefix_and_says_so(data: bytes, limit: int) -> None:
    payload = Payload.of(data, limit)
    held = payload.raw()
    assert data.startswith(held) and len(held) <= limit and payload.size == len(data)
    assert payload.truncated == (len(held) < len(data))
    assert decode(Payload, encode(payload)) == payload


def test_a_cut_never_splits_a_character() -> None:
    payload = Payload.of("\u00e9\u00e9\u00e9".encode(), 3)  # 6 bytes; the cut falls inside the second
    assert payload.encoding == "utf-8" and payload.data == "\u00e9" and payload.truncated


@pytest.mark.parametrize(
    "bad",
    [
        {"encoding": "utf-8", "data": "abc", "size": 2},  # more held than the original
        {"encoding": "utf-8", "data": "ab", "size": 3},  # shorter but not flagged
        {"encoding": "utf-8", "data": "abc", "size": 3, "truncated": True},  # flagged but whole
        {"encoding": "base64", "data": "not base64!", "size": 8},
    ],
)
def test_an_inconsistent_payload_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(SchemaDecodeError):
        decode(Payload, json.dumps(bad))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "Not a label"),
        ("reason", ""),
        ("service", ""),
        ("detail", "x" * 2001),
        ("source_offset", -1),
        ("dead_lettered_at", "2026-12-06T07:30:00"),  # no time zone
        ("unknown", 1),
    ],
)
def test_bad_dead_letters_are_refused(field: str, value: object) -> None:
    body = {"reason": "not_json", "service": "sanitizer", "dead_lettered_at": NOW.isoformat(), field: value}
    with pytest.raises(SchemaDecodeError) as info:
        decode(DeadLetter, json.dumps(body))
    assert info.value.field.startswith(field)


def test_the_schema_is_exported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    export_json_schemas(tmp_path)
    schema = json.loads((tmp_path / "DeadLetter.schema.json").read_text())
    assert {"reason", "service", "dead_lettered_at"} <= set(schema["required"])
    assert schema["additionalProperties"] is False


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
