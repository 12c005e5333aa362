"""``SanitizedRecord`` -> DynamoDB item: numbers as Decimal, no empty map keys, sharded index key,
oversize content compressed, the sanitizer's features as a map (``features``) when it added them.
Items are in boto3's "resource" form (Python values)."""

from __future__ import annotations

import hashlib
import zlib
from decimal import Context, Decimal, Inexact, Rounded
from typing import Any, Final

from libs.schemas import RecordFeatures, SanitizedRecord

MAX_ITEM_BYTES: Final = 400 * 1024  # DynamoDB's hard limit per item, names included
EMPTY_KEY: Final = "_empty_"  # DynamoDB rejects empty attribute names, also inside maps
INDEX_NAME: Final = "by_dataset_time"
# DynamoDB refuses an attribute nested deeper than 32 levels, the attribute itself counted as level 1
# (ValidationException "Nesting Levels have exceeded supported limits"); dynalite does not check it.
MAX_NESTING_LEVELS: Final = 32

# DynamoDB numbers: up to 38 significant digits, magnitude 1e-130 .. 1e126.
_DYNAMO_CONTEXT: Final = Context(prec=38, Emin=-128, Emax=126, traps=[Inexact, Rounded])


class UnstorableRecord(ValueError):
    """A record that can never be stored as an item (too large even compressed, nested too deep); the
    writer sends it to ``writer.dlq`` with ``label`` as the dead letter's reason and ``reason`` (what
    and which limit, never a value) as its detail."""

    def __init__(self, reason: str, label: str = "oversize") -> None:
        self.reason = reason
        self.label = label
        super().__init__(reason)


def nesting_levels(value: Any) -> int:
    """How many levels deep a value is, as DynamoDB counts them: a scalar or an empty map or list is
    1 level, a map or list one more than its deepest element. Iterative, so a hostile depth cannot
    exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, dict):
            stack.extend((child, level + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, level + 1) for child in current)
    return deepest


def check_nesting(item: dict[str, Any], max_levels: int = MAX_NESTING_LEVELS) -> None:
    """Raise ``UnstorableRecord`` (``nested_too_deep``) naming the first attribute nested deeper
    than DynamoDB allows."""
    for name, value in item.items():
        levels = nesting_levels(value)
        if levels > max_levels:
            raise UnstorableRecord(
                f"attribute '{name}' is nested {levels} levels deep, over DynamoDB's limit of {max_levels}",
                label="nested_too_deep",
            )


def dataset_shard(dataset: str, record_id: str, shards: int) -> str:
    """Index partition key: the dataset spread over ``shards`` keys by a hash of the record id, so a
    hot dataset writes to many index partitions; a reader queries every shard in parallel."""
    bucket = int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "big") % shards
    return shard_key(dataset, bucket)


def shard_key(dataset: str, bucket: int) -> str:
    """The index partition key of one shard; snapshot readers enumerate them."""
    return f"{dataset}#{bucket:03d}"


def to_dynamo(value: Any) -> Any:
    """A JSON value as DynamoDB accepts it: floats and ints as Decimal (numbers that DynamoDB cannot
    hold exactly are kept as strings), maps without empty keys."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        return {(key or EMPTY_KEY): to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_dynamo(item) for item in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _number(value: int | float) -> Decimal | str:
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    try:
        return _DYNAMO_CONTEXT.create_decimal(exact)
    except (Inexact, Rounded, ArithmeticError):
        return str(value)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item (names + values), per the documented rules, slightly over-estimated."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, Decimal):
        return (len(value.as_tuple().digits) + 1) // 2 + 2
    if isinstance(value, dict):
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 3 + sum(_value_size(v) + 1 for v in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def to_item(
    record: SanitizedRecord, ingested_at_ms: int, shards: int, max_bytes: int = MAX_ITEM_BYTES
) -> dict[str, Any]:
    """Map a record to its item. ``ingested_at_ms`` is the Kafka timestamp of the message, so a
    replayed message produces the identical item. Raises ``UnstorableRecord`` when even the
    compressed item is over ``max_bytes``, or when a value is nested deeper than DynamoDB allows."""
    item: dict[str, Any] = {
        "id": record.id,
        "dataset": record.dataset,
        "dataset_shard": dataset_shard(record.dataset, record.id, shards),
        "ingested_at": Decimal(ingested_at_ms),
        "source": record.source,
        "kind": record.kind.value,
        "content": record.content,
        "content_hash": record.content_hash,
        "fields": to_dynamo(record.fields),
        "metadata": to_dynamo(record.metadata),
        "pii": {key or EMPTY_KEY: Decimal(count) for key, count in record.pii.items()},
        "collected_at": record.collected_at.isoformat(),
        "sanitized_at": record.sanitized_at.isoformat(),
        "schema_version": Decimal(record.schema_version),
    }
    if record.features is not None:
        item["features"] = to_dynamo(record.features.model_dump(mode="json"))
    check_nesting(item)
    size = item_size(item)
    if size <= max_bytes:
        return item
    compressed = zlib.compress(record.content.encode(), level=6)
    del item["content"]
    item["content_z"] = compressed  # zlib-compressed UTF-8; readers inflate it
    compressed_size = item_size(item)
    if compressed_size > max_bytes:
        raise UnstorableRecord(
            f"item is {size} bytes ({compressed_size} with content compressed), "
            f"over the {max_bytes}-byte limit"
        )
    return item


def item_features(item: dict[str, Any]) -> RecordFeatures | None:
    """The record's features from an item in resource form (None: stored without them)."""
    stored = item.get("features")
    if stored is None:
        return None
    return RecordFeatures.model_validate(_plain_numbers(stored))


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    return value


def item_content(item: dict[str, Any]) -> str:
    """The record's text from an item, compressed or not."""
    if "content" in item:
        return str(item["content"])
    return zlib.decompress(bytes(item["content_z"])).decode()
