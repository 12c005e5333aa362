"""Records built on the hot path are valid RawRecords; values become JSON without losing anything."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.schemas.codec import decode
from libs.schemas.records import RawRecord, RecordKind, stable_record_id
from services.collector.core.errors import ConversionError
from services.collector.core.items import Emit, Reject
from services.collector.core.jsonsafe import row_to_fields, to_json_safe
from services.collector.core.records import RecordFactory
from services.collector.core.template import ContentTemplate, default_content

FIXED = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)


@given(content=st.text(), fields=st.dictionaries(st.text(), json_values, max_size=5), key=st.text(min_size=1))
def test_every_record_the_factory_builds_decodes_as_a_raw_record(
    content: str, fields: dict[str, Any], key: str
) -> None:
    factory = RecordFactory("orders", RecordKind.SQL, max_record_bytes=10**9, clock=lambda: FIXED)
    item = factory.build(key, content, fields, {"table": "orders"}, ("cursor", [1]))
    assert isinstance(item, Emit)
    record = decode(RawRecord, item.value)
    assert record.id == item.key == stable_record_id("orders", key)
    assert (record.content, record.fields, record.collected_at) == (content, fields, FIXED)
    assert record.kind is RecordKind.SQL and item.position == ("cursor", [1])


def test_records_over_the_size_limit_are_rejected_with_where_they_came_from() -> None:
    factory = RecordFactory("app", RecordKind.LOG, max_record_bytes=1024)
    item = factory.build(
        "fp:0", "x" * 2000, {}, {"path": "/l/app.log", "offset": 0}, ("fp", {"offset": 2001})
    )
    assert isinstance(item, Reject)
    assert item.reason == "record_too_large" and item.where["path"] == "/l/app.log"
    assert item.position == ("fp", {"offset": 2001})


def test_a_value_json_cannot_hold_is_rejected_not_raised() -> None:
    factory = RecordFactory("api", RecordKind.HTTP)
    item = factory.build("k", "text", {"n": 2**70}, {"url": "/x"}, ("p", 1))
    assert isinstance(item, Reject) and item.reason == "conversion_failed"


def test_database_values_become_json_without_losing_precision() -> None:
    row = {
        "price": Decimal("19.99"),
        "total": Decimal("12345678901234567890.123456789"),
        "count": Decimal("42"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "took": dt.timedelta(seconds=1.5),
        "ref": uuid.UUID(int=1),
        "raw": b"\x00\xff",
        "ratio": math.inf,
        "tags": ("a", Decimal("1.5")),
        "meta": {"k": None},
        "big": 2**70,
    }
    assert row_to_fields(list(row), list(row.values())) == {
        "price": 19.99,
        "total": "12345678901234567890.123456789",
        "count": 42,
        "at": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "took": 1.5,
        "ref": "00000000-0000-0000-0000-000000000001",
        "raw": "AP8=",
        "ratio": "inf",
        "tags": ["a", 1.5],
        "meta": {"k": None},
        "big": str(2**70),
    }


def test_an_unconvertible_value_names_its_column() -> None:
    with pytest.raises(ConversionError, match="column 'shape'"):
        row_to_fields(["ok", "shape"], [1, object()])
    with pytest.raises(ConversionError):
        to_json_safe({1, object()})


def test_templates_render_fields_and_blank_out_missing_or_null_ones() -> None:
    template = ContentTemplate("{subject}\n{body}")
    assert template.fields == {"subject", "body"}
    assert template.render({"subject": "Hi", "body": None}) == "Hi\n"
    assert template.render({}) == "\n"
    assert default_content({"a": 1, "b": None, "c": "x"}) == "a: 1\nc: x"
