"""Writer throughput into the DynamoDB-compatible server (dynalite), measured side by side in one run:

- naive: one ``put_item`` per record from a single thread;
- writer: ``DynamoBatchWriter`` as the service runs it (BatchWriteItem x 25, thread pool);
- ceiling: pre-serialized BatchWriteItem requests from 8 threads with no per-item work at all,
  the most this server accepts.
"""

from __future__ import annotations

import argparse
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

from benchmarks.report import Row, record
from libs.devstack.dynalite import DynaliteProcess, install_dynalite
from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.devstack.settings import DevStackSettings
from libs.schemas import RecordKind, SanitizedRecord, Table, table_name
from libs.storage.items import to_item
from libs.storage.tables import init_tables
from services.writer.adapters.dynamodb import DynamoBatchWriter

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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=N_BATCHED, help=f"batched paths (default {N_BATCHED})")
    parser.add_argument("--naive", type=int, default=N_NAIVE, help=f"naive put_item (default {N_NAIVE})")
    args = parser.parse_args()
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
            rates = run(console, client, table, args.records, args.naive)
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
    naive, writer = rates["naive put_item"][1], rates["tuneline writer (4 threads)"][1]
    ceiling = rates["ceiling (raw batch, 8 threads)"][1]
    record(
        Row("writer", "items/s into dynalite", writer, "items/s", naive, "naive put_item", min_ratio=10),
        Row(
            "writer",
            "share of the server's batch ceiling",
            writer,
            "items/s",
            ceiling,
            "raw batches, 8 threads",
        ),
    )


def run(
    console: Console, client: Any, table: str, n_batched: int = N_BATCHED, n_naive: int = N_NAIVE
) -> dict[str, tuple[int, float]]:
    rates: dict[str, tuple[int, float]] = {}
    serialize = TypeSerializer().serialize
    with Progress(console=console, transient=True) as progress:
        naive_items = items("naive", n_naive)
        task = progress.add_task("naive put_item", total=n_naive)
        start = time.perf_counter()
        for item in naive_items:
            client.put_item(TableName=table, Item={k: serialize(v) for k, v in item.items()})
            progress.advance(task)
        rates["naive put_item"] = (n_naive, n_naive / (time.perf_counter() - start))

        writer = DynamoBatchWriter(client, table, threads=4)
        batched = items("writer", n_batched)
        task = progress.add_task("writer", total=n_batched)
        start = time.perf_counter()
        for i in range(0, n_batched, BATCH):
            writer.write(batched[i : i + BATCH])
            progress.advance(task, BATCH)
        rates["tuneline writer (4 threads)"] = (n_batched, n_batched / (time.perf_counter() - start))
        writer.close()

        raw = [
            {"PutRequest": {"Item": {k: serialize(v) for k, v in item.items()}}}
            for item in items("raw", n_batched)
        ]
        chunks = [raw[i : i + 25] for i in range(0, len(raw), 25)]
        task = progress.add_task("ceiling", total=n_batched)

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
        rates["ceiling (raw batch, 8 threads)"] = (n_batched, n_batched / (time.perf_counter() - start))
    return rates


if __name__ == "__main__":
    main()
