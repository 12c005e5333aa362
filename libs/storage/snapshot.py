"""A dataset snapshot: every record of a dataset ingested at or before a watermark, read from the records
table's sharded index (``dataset_shard``, ``ingested_at``) by one Query per shard, in parallel.

``shards`` must equal the writer's: both come from the one shared setting ``TUNELINE_INDEX_SHARDS``
(default 16), since a shard the reader does not know is a shard whose records are silently missing from
every snapshot.

The index is a GSI, so reads are eventually consistent: a record written a moment before the watermark
may not be visible yet. Callers use a watermark a few seconds in the past when that matters.
Throttling is retried by the client itself (``libs.common.aws.dynamodb_client``: standard retry mode).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer

from libs.schemas import FeatureSelection, RecordFeatures, Table, table_name
from libs.storage.items import EMPTY_KEY, INDEX_NAME, item_content, item_features, shard_key

_QUEUE_PAGES: Final = 64  # pages buffered between the shard readers and the consumer
_PUT_POLL_S: Final = 0.1


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    id: str
    content: str
    fields: dict[str, Any]  # plain Python values: numbers are int or float, never Decimal
    ingested_at_ms: int
    source: str = ""  # the collector source it came from (evaluation breaks metrics down by it)
    features: RecordFeatures | None = None  # the sanitizer's (None: stored without them)


def shard_keys(dataset: str, shards: int) -> list[str]:
    """Every index partition key of a dataset, as the writer spreads it (``dataset_shard``)."""
    return [shard_key(dataset, bucket) for bucket in range(shards)]


def plain(value: Any) -> Any:
    """A deserialized DynamoDB value as plain Python: Decimal -> int (integral, no fraction digits)
    or float; the writer's placeholder for empty map keys back to ""."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, dict):
        return {("" if key == EMPTY_KEY else key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


class SnapshotReader:
    def __init__(
        self,
        client: Any,
        prefix: str,
        shards: int = 16,
        parallelism: int = 8,
        page_size: int | None = None,
    ) -> None:
        if shards < 1 or parallelism < 1:
            raise ValueError("shards and parallelism must be >= 1")
        self._client = client
        self._table = table_name(Table.RECORDS, prefix)
        self._shards = shards
        self._parallelism = parallelism
        self._page_size = page_size
        self._deserialize = TypeDeserializer().deserialize

    def read(
        self,
        dataset: str,
        watermark_ms: int,
        select: FeatureSelection | None = None,
        after_ms: int | None = None,
    ) -> Generator[SnapshotRecord, None, None]:
        """Every record of ``dataset`` with ``ingested_at <= watermark_ms`` (and ``> after_ms`` when
        given: the records that arrived since an earlier snapshot), in no particular order;
        with an active ``select``, only those whose stored features match it (records stored without
        features never match). Records stream out as pages arrive; closing the iterator early stops
        the shard readers."""
        if after_ms is not None and after_ms >= watermark_ms:
            return  # an empty window (and DynamoDB refuses a BETWEEN whose bounds are reversed)
        wanted = select if select is not None and select.active else None
        keys = shard_keys(dataset, self._shards)
        pages: queue.Queue[list[SnapshotRecord] | BaseException | None] = queue.Queue(_QUEUE_PAGES)
        stop = threading.Event()
        pool = ThreadPoolExecutor(min(self._parallelism, len(keys)), thread_name_prefix="snapshot")
        try:
            for key in keys:
                pool.submit(self._read_shard, key, watermark_ms, after_ms, pages, stop)
            running = len(keys)
            while running:
                page = pages.get()
                if page is None:
                    running -= 1
                elif isinstance(page, BaseException):
                    raise page
                elif wanted is None:
                    yield from page
                else:
                    yield from (record for record in page if wanted.matches(record.features))
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _read_shard(
        self,
        key: str,
        watermark_ms: int,
        after_ms: int | None,
        pages: queue.Queue[list[SnapshotRecord] | BaseException | None],
        stop: threading.Event,
    ) -> None:
        try:
            for page in self._query(key, watermark_ms, after_ms):
                if stop.is_set() or not _put(pages, page, stop):
                    return
        except Exception as exc:  # handed to the consumer, which raises it
            _put(pages, exc, stop)
            return
        _put(pages, None, stop)

    def _query(self, key: str, watermark_ms: int, after_ms: int | None) -> Iterator[list[SnapshotRecord]]:
        pagination = {"PageSize": self._page_size} if self._page_size else {}
        values = {":shard": {"S": key}, ":watermark": {"N": str(watermark_ms)}}
        condition = "#shard = :shard AND #at <= :watermark"
        if after_ms is not None:
            condition = "#shard = :shard AND #at BETWEEN :after AND :watermark"
            values[":after"] = {"N": str(after_ms + 1)}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=INDEX_NAME,
            KeyConditionExpression=condition,
            ProjectionExpression="#id, #content, #content_z, #fields, #at, #source, #features",
            ExpressionAttributeNames={
                "#shard": "dataset_shard",
                "#at": "ingested_at",
                "#id": "id",
                "#content": "content",
                "#content_z": "content_z",
                "#fields": "fields",
                "#source": "source",
                "#features": "features",
            },
            ExpressionAttributeValues=values,
            PaginationConfig=pagination,
        ):
            yield [self._record(item) for item in page.get("Items", [])]

    def _record(self, item: dict[str, Any]) -> SnapshotRecord:
        text = item_content(
            {"content": item["content"]["S"]} if "content" in item else {"content_z": item["content_z"]["B"]}
        )
        fields = plain(self._deserialize(item["fields"])) if "fields" in item else {}
        return SnapshotRecord(
            id=item["id"]["S"],
            content=text,
            fields=fields,
            ingested_at_ms=int(item["ingested_at"]["N"]),
            source=item.get("source", {}).get("S", ""),
            features=item_features({"features": self._deserialize(item["features"])})
            if "features" in item
            else None,
        )


def _put(
    pages: queue.Queue[list[SnapshotRecord] | BaseException | None],
    value: list[SnapshotRecord] | BaseException | None,
    stop: threading.Event,
) -> bool:
    """Block while the consumer is behind, but give up once it has gone away."""
    while not stop.is_set():
        try:
            pages.put(value, timeout=_PUT_POLL_S)
            return True
        except queue.Full:
            continue
    return False
