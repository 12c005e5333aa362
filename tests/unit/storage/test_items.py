from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest

from libs.schemas import QualitySignals, RecordFeatures, RecordKind, SanitizedRecord, Structure
from libs.storage.items import (
    EMPTY_KEY,
    UnstorableRecord,
    dataset_shard,
    item_content,
    item_features,
    item_size,
    nesting_levels,
    to_dynamo,
    to_item,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def record(content: str = "the printer on floor 3 is jammed", **fields: object) -> SanitizedRecord:
    return SanitizedRecord(
        id="helpdesk:1",
        source="helpdesk",
        kind=RecordKind.SQL,
        content=content,
        fields=dict(fields),
        metadata={"table": "tickets"},
        collected_at=NOW,
        dataset="support",
        content_hash="ab" * 16,
        pii={"EMAIL_ADDRESS": 2},
        sanitized_at=NOW,
    )


def test_item_has_key_index_attributes_and_decimal_numbers() -> None:
    item = to_item(
        record(price=12.5, count=3, nested={"a": [1, 2.25, None, True]}), 1_700_000_000_123, shards=16
    )
    assert item["id"] == "helpdesk:1"
    assert item["dataset"] == "support"
    assert item["dataset_shard"].startswith("support#")
    assert item["ingested_at"] == Decimal(1_700_000_000_123)
    assert item["fields"] == {
        "price": Decimal("12.5"),
        "count": Decimal(3),
        "nested": {"a": [Decimal(1), Decimal("2.25"), None, True]},
    }
    assert item["pii"] == {"EMAIL_ADDRESS": Decimal(2)}
    assert item["collected_at"] == "2026-11-25T12:00:00+00:00"
    assert not any(isinstance(v, float) for v in item["fields"].values())


def test_floats_keep_their_shortest_decimal_form() -> None:
    assert to_dynamo(0.1) == Decimal("0.1")  # not 0.1000000000000000055511151231257827...


def test_numbers_dynamodb_cannot_hold_are_kept_as_text() -> None:
    huge = 10**40 + 1  # 41 significant digits, DynamoDB keeps 38
    assert to_dynamo(huge) == str(huge)
    assert to_dynamo(1e200) == "1e+200"
    assert to_dynamo(2**53) == Decimal(2**53)


def test_empty_keys_are_renamed_at_every_depth() -> None:
    assert to_dynamo({"": 1, "a": {"": [{"": "x"}]}}) == {
        EMPTY_KEY: Decimal(1),
        "a": {EMPTY_KEY: [{EMPTY_KEY: "x"}]},
    }


def test_same_record_and_timestamp_give_the_same_item() -> None:
    assert to_item(record(), 1, 16) == to_item(record(), 1, 16)


def test_shards_spread_a_dataset_and_are_stable() -> None:
    shards = {dataset_shard("support", f"id-{i}", 16) for i in range(500)}
    assert len(shards) == 16
    assert dataset_shard("support", "id-7", 16) == dataset_shard("support", "id-7", 16)


def test_oversize_content_is_compressed_and_readable() -> None:
    text = "the same log line repeats over and over\n" * 20_000  # ~800 KB, compresses well
    item = to_item(record(text), 1, 16)
    assert "content" not in item
    assert item_size(item) <= 400 * 1024
    assert item_content(item) == text


def test_incompressible_oversize_record_is_unstorable() -> None:
    text = os.urandom(300_000).hex()  # 600 KB of hex: compresses to ~300 KB... still over a 200 KB limit
    with pytest.raises(UnstorableRecord, match="over the 204800-byte limit"):
        to_item(record(text), 1, 16, max_bytes=200 * 1024)


def test_item_size_counts_names_and_values() -> None:
    assert item_size({"ab": "xyz"}) == 5
    assert item_size({"n": Decimal("12345")}) == 1 + 5
    assert item_size({"m": {"k": "v"}}) == 1 + 3 + (1 + 1 + 1)


def features() -> RecordFeatures:
    return RecordFeatures(
        lang="en",
        lang_score=0.9871,
        tokens=123,
        structure=Structure.QA,
        quality=0.9091,
        quality_issues=["dup_5gram_fraction"],
        signals=QualitySignals(
            words=80,
            mean_word_length=4.8125,
            symbol_word_ratio=0.0,
            alpha_word_fraction=0.975,
            stop_words=9,
            lines=4,
            dup_line_fraction=0.25,
            top_2gram_fraction=0.0519,
            dup_5gram_fraction=0.2,
            end_punct_fraction=1.0,
            boilerplate_fraction=0.0,
        ),
    )


def test_features_are_stored_as_a_map_of_decimals_and_read_back_equal() -> None:
    with_features = record().model_copy(update={"features": features()})
    item = to_item(with_features, 1_700_000_000_123, shards=16)
    stored = item["features"]
    assert stored["lang"] == "en" and stored["structure"] == "qa"
    assert stored["tokens"] == Decimal(123) and stored["lang_score"] == Decimal("0.9871")
    assert stored["signals"]["end_punct_fraction"] == Decimal("1.0")
    assert item_features(item) == with_features.features
    # As DynamoDB hands it back (the low-level client's form), through the snapshot's deserializer.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    wire = TypeSerializer().serialize(stored)
    assert item_features({"features": TypeDeserializer().deserialize(wire)}) == with_features.features


def test_a_record_without_features_stores_none() -> None:
    item = to_item(record(), 1, shards=16)
    assert "features" not in item and item_features(item) is None


def nested(maps: int) -> object:
    value: object = "leaf"
    for _ in range(maps):
        value = {"a": value}
    return value


def test_nesting_levels_count_as_dynamodb_does() -> None:
    assert nesting_levels("x") == nesting_levels({}) == nesting_levels([]) == 1
    assert nesting_levels({"a": "x"}) == nesting_levels([[]]) == 2
    assert nesting_levels({"a": [1, {"b": [2]}], "c": 3}) == 5
    assert nesting_levels(nested(31)) == 32  # DynamoDB takes 31 maps around a value, not 32
    assert nesting_levels(nested(5000)) == 5001  # iterative: no RecursionError


def test_a_record_nested_deeper_than_dynamodb_allows_is_unstorable_with_its_reason() -> None:
    assert to_item(record(deep=nested(30)), 0, shards=4)["fields"]["deep"]  # 32 levels: fine
    with pytest.raises(UnstorableRecord) as caught:
        to_item(record(deep=nested(31)), 0, shards=4)
    assert caught.value.label == "nested_too_deep"
    assert caught.value.reason == "attribute 'fields' is nested 33 levels deep, over DynamoDB's limit of 32"
    with pytest.raises(UnstorableRecord) as oversize:
        to_item(record(os.urandom(300_000).hex()), 0, shards=4, max_bytes=200 * 1024)
    assert oversize.value.label == "oversize"
