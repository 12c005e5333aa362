"""Writer throughput into the DynamoDB-compatible server (dynalite), measured side by side in one run:

- naive: one ``put_item`` per record from a single thread;
- writer: ``DynamoBatchWriter`` as the service runs it (BatchWriteItem x 25, thread pool);
- ceiling: pre-serialized BatchWriteItem requests from 8 threads with no per-item work at all,
  the most this server accepts.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table as RichTable

from libs.devstack.dynalite import DynaliteProcess, install_dynalite
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from libs.schemas import RecordKind, SanitizedRecord, Table, table_name
from services.writer.adapters.dynamodb import DynamoBatchWriter
from services.writer.adapters.tables import init_tables
from services.writer.core.items import to_item

N_BATCHED = 20_000
N_NAIVE = 3_000
BATCH = 1_000  # records per service batch
NOW = dt.datetime.now(dt.UTC)


def items(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        to_item(
            SanitizedRecord(
                id=f"{prefix}:{i}",
                source="helpdesk",
                kind=RecordKind.SQL,
                content=f"Ticket {i}: the VPN drops every {i % 50} minutes on <PERSON_1a2b3c>'s laptop.",
                fields={"ticket": i, "priority": "high"},
                metadata={"table": "tickets"},
                collected_at=NOW,
                dataset="support",
                content_hash=f"{i:032x}",
                pii={"PERSON": 1},
                sanitized_at=NOW,
            ),
            1_700_000_000_000 + i,
            shards=16,
        )
        for i in range(n)
    ]


def main() -> None:
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        server = DynaliteProcess(
            install_dynalite(DevStackSettings().cache_dir), Path(tmp), port=free_port(), die_with_parent=True
        )
        endpoint = server.start()
        try:
            client = boto3.client(
                "dynamodb",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=LOCAL_AWS_KEY_ID,
                aws_secret_access_key=LOCAL_AWS_SECRET,
            )
            init_tables(client, "bench-")
            table = table_name(Table.RECORDS, "bench-")
            rates = run(console, client, table)
        finally:
            server.daemon.stop()
    report = RichTable(title="Writer into dynalite (items/s, one run, same server)")
    for column in ("path", "items", "items/s", "vs naive", "of ceiling"):
        report.add_column(column, justify="right" if column != "path" else "left")
    for name, (count, rate) in rates.items():
        report.add_row(
            name,
            str(count),
            f"{rate:,.0f}",
            f"{rate / rates['naive put_item'][1]:.1f}x",
            f"{rate / rates['ceiling (raw batch, 8 threads)'][1]:.0%}",
        )
    console.print(report)


def run(console: Console, client: Any, table: str) -> dict[str, tuple[int, float]]:
    rates: dict[str, tuple[int, float]] = {}
    serialize = TypeSerializer().serialize
    with Progress(console=console, transient=True) as progress:
        naive_items = items("naive", N_NAIVE)
        task = progress.add_task("naive put_item", total=N_NAIVE)
        start = time.perf_counter()
        for item in naive_items:
            client.put_item(TableName=table, Item={k: serialize(v) for k, v in item.items()})
            progress.advance(task)
        rates["naive put_item"] = (N_NAIVE, N_NAIVE / (time.perf_counter() - start))

        writer = DynamoBatchWriter(client, table, threads=4)
        batched = items("writer", N_BATCHED)
        task = progress.add_task("writer", total=N_BATCHED)
        start = time.perf_counter()
        for i in range(0, N_BATCHED, BATCH):
            writer.write(batched[i : i + BATCH])
            progress.advance(task, BATCH)
        rates["tuneline writer (4 threads)"] = (N_BATCHED, N_BATCHED / (time.perf_counter() - start))
        writer.close()

        raw = [
            {"PutRequest": {"Item": {k: serialize(v) for k, v in item.items()}}}
            for item in items("raw", N_BATCHED)
        ]
        chunks = [raw[i : i + 25] for i in range(0, len(raw), 25)]
        task = progress.add_task("ceiling", total=N_BATCHED)

        def send(chunk: list[dict[str, Any]]) -> None:
            pending = chunk
            while pending:
                pending = (
                    client.batch_write_item(RequestItems={table: pending})
                    .get("UnprocessedItems", {})
                    .get(table, [])
                )
            progress.advance(task, len(chunk))

        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, chunks))
        rates["ceiling (raw batch, 8 threads)"] = (N_BATCHED, N_BATCHED / (time.perf_counter() - start))
    return rates


if __name__ == "__main__":
    main()
