from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.schemas import (
    Decision,
    EvaluationCompleted,
    GateResult,
    RawRecord,
    RecordKind,
    RunStatus,
    SanitizedRecord,
    SchemaDecodeError,
    TrainingCompleted,
    TrainingRequested,
    TriggerReason,
    decode,
    decode_training_event,
    encode,
    export_json_schemas,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_maps = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
aware_datetimes = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
    ),
)
source_names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,30}", fullmatch=True).filter(lambda s: s != "dlq")

raw_records = st.builds(
    RawRecord,
    id=st.text(min_size=1, max_size=64),
    source=source_names,
    kind=st.sampled_from(RecordKind),
    content=st.text(max_size=200),
    fields=json_maps,
    metadata=json_maps,
    collected_at=aware_datetimes,
)


@given(raw_records)
def test_raw_record_round_trips(record: RawRecord) -> None:
    assert decode(RawRecord, encode(record)) == record


@given(
    raw_records,
    st.dictionaries(st.sampled_from(["EMAIL_ADDRESS", "PERSON", "AWS_KEY"]), st.integers(0, 99)),
    aware_datetimes,
    st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
)
def test_sanitized_record_round_trips(
    raw: RawRecord, pii: dict[str, int], at: dt.datetime, digest: str
) -> None:
    record = SanitizedRecord(
        **raw.model_dump(), dataset="support", content_hash=digest, pii=pii, sanitized_at=at
    )
    assert decode(SanitizedRecord, encode(record)) == record


@given(
    st.sampled_from(RunStatus),
    st.dictionaries(st.text(max_size=10), st.floats(allow_nan=False, allow_infinity=False)),
    st.integers(0, 10**9),
    aware_datetimes,
)
def test_training_events_round_trip_through_the_union(
    status: RunStatus, metrics: dict[str, float], count: int, at: dt.datetime
) -> None:
    events = [
        TrainingRequested(
            run_id="run-1",
            dataset="support",
            occurred_at=at,
            reason=TriggerReason.THRESHOLD,
            requested_by="scheduler",
            overrides={"epochs": 2},
        ),
        TrainingCompleted(
            run_id="run-1",
            dataset="support",
            occurred_at=at,
            status=status,
            base_model="tiny-gpt2",
            model_uri="/models/run-1",
            data_watermark=at,
            record_count=count,
            metrics=metrics,
        ),
        EvaluationCompleted(
            run_id="run-1",
            dataset="support",
            occurred_at=at,
            model_uri="/models/run-1",
            decision=Decision.REJECTED,
            metrics=metrics,
            gates=[GateResult(name="privacy", value=0.0, threshold=0.0, passed=True)],
        ),
    ]
    for event in events:
        decoded = decode_training_event(encode(event))
        assert type(decoded) is type(event)
        assert decoded == event


def _valid_raw() -> dict[str, object]:
    return RawRecord(id="r1", source="crm", kind=RecordKind.SQL, content="x", collected_at=NOW).model_dump(
        mode="json"
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("source"), "source"),
        (lambda d: d.update(kind="xml"), "kind"),
        (lambda d: d.update(collected_at="yesterday"), "collected_at"),
        (lambda d: d.update(collected_at="2026-11-25T12:00:00"), "collected_at"),  # naive: no time zone
        (lambda d: d.update(source="Bad Name"), "source"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d.update(id=""), "id"),
    ],
)
def test_bad_field_raises_one_typed_error_naming_it(mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    import orjson

    doc = _valid_raw()
    mutate(doc)
    with pytest.raises(SchemaDecodeError) as info:
        decode(RawRecord, orjson.dumps(doc))
    assert info.value.field == field
    assert str(info.value).startswith(f"RawRecord.{field}: ")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"{not json", "<json>"),
        (b"", "<json>"),
        (b"[1, 2]", "<root>"),
        (b'"text"', "<root>"),
        (b"\xff\xfe", "<json>"),
    ],
)
def test_undecodable_bytes_raise_the_same_typed_error(data: bytes, field: str) -> None:
    with pytest.raises(SchemaDecodeError) as info:
        decode(RawRecord, data)
    assert info.value.field == field


def test_nested_field_path_is_dotted() -> None:
    import orjson

    doc = {
        **_valid_raw(),
        "dataset": "d",
        "content_hash": "ab" * 16,
        "pii": {"EMAIL": -1},
        "sanitized_at": NOW.isoformat(),
    }
    with pytest.raises(SchemaDecodeError) as info:
        decode(SanitizedRecord, orjson.dumps(doc))
    assert info.value.field == "pii.EMAIL"


@pytest.mark.parametrize("doc", [b'{"type": "training.exploded", "run_id": "r"}', b'{"run_id": "r"}'])
def test_unknown_or_missing_event_type_names_the_type_field(doc: bytes) -> None:
    with pytest.raises(SchemaDecodeError) as info:
        decode_training_event(doc)
    assert info.value.field == "type"
    assert str(info.value).startswith("TrainingEvent.type: ")


def test_models_are_frozen_and_strict() -> None:
    record = RawRecord(id="r1", source="crm", kind=RecordKind.LOG, content="x", collected_at=NOW)
    with pytest.raises(ValueError, match="frozen"):
        record.content = "changed"  # type: ignore[misc]
    with pytest.raises(ValueError, match="finite"):
        RawRecord(
            id="r1",
            source="crm",
            kind=RecordKind.LOG,
            content="x",
            fields={"v": float("nan")},
            collected_at=NOW,
        )


def test_export_writes_a_loadable_schema_per_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    paths = export_json_schemas(tmp_path / "schemas")
    names = {p.name for p in paths}
    assert {"RawRecord.schema.json", "SanitizedRecord.schema.json", "TrainingEvent.schema.json"} <= names
    raw = json.loads((tmp_path / "schemas" / "RawRecord.schema.json").read_text())
    assert raw["additionalProperties"] is False
    assert {"id", "source", "kind", "content", "collected_at"} <= set(raw["required"])


def test_free_form_json_helpers() -> None:
    from libs.schemas import dumps, loads

    envelope = {"reason": "RawRecord.kind: bad", "topic": "raw.crm", "partition": 0, "offset": 17}
    assert loads(dumps(envelope)) == envelope
    with pytest.raises(SchemaDecodeError) as info:
        loads(b"{oops")
    assert info.value.field == "<json>"
