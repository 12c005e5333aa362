"""Record codec throughput: tuneline's helpers (pydantic-core's Rust JSON) side by side with an
orjson path and the standard library, on the same records in one run. Prints records/s and ratios."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.report import Row, record
from libs.schemas import RawRecord, RecordKind, decode, encode, stable_record_id

N = 20_000
REPEATS = 5


def make_records(n: int) -> list[RawRecord]:
    now = dt.datetime.now(dt.UTC)
    return [
        RawRecord(
            id=stable_record_id("helpdesk", str(i)),
            source="helpdesk",
            kind=RecordKind.SQL,
            content=f"Ticket {i}: the VPN drops every {i % 50} minutes since the upgrade to 4.{i % 9}.",
            fields={
                "ticket": i,
                "priority": ["low", "high"][i % 2],
                "tags": ["vpn", "network"],
                "score": i / 7,
            },
            metadata={"table": "tickets", "cursor": {"updated_at": now.isoformat(), "id": i}},
            collected_at=now,
        )
        for i in range(n)
    ]


def best_rate(fn: Callable[[], object], n: int, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=N, help=f"records (default {N})")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"best of (default {REPEATS})")
    args = parser.parse_args()
    n, repeats = args.records, args.repeats
    records = make_records(n)
    payloads = [encode(r) for r in records]
    rows = {
        "encode: tuneline (pydantic-core)": best_rate(lambda: [encode(r) for r in records], n, repeats),
        "encode: orjson(model_dump)": best_rate(
            lambda: [orjson.dumps(r.model_dump()) for r in records], n, repeats
        ),
        "encode: stdlib json": best_rate(
            lambda: [json.dumps(r.model_dump(mode="json")) for r in records], n, repeats
        ),
        "decode: tuneline (pydantic-core)": best_rate(
            lambda: [decode(RawRecord, p) for p in payloads], n, repeats
        ),
        "decode: orjson + validate": best_rate(
            lambda: [RawRecord.model_validate(orjson.loads(p)) for p in payloads], n, repeats
        ),
        "decode: stdlib json + validate": best_rate(
            lambda: [RawRecord.model_validate(json.loads(p)) for p in payloads], n, repeats
        ),
    }
    table = Table(title=f"RawRecord codec, {n} records, best of {repeats}")
    table.add_column("path")
    table.add_column("records/s", justify="right")
    table.add_column("vs stdlib", justify="right")
    for name, rate in rows.items():
        baseline = (
            rows["encode: stdlib json"]
            if name.startswith("encode")
            else rows["decode: stdlib json + validate"]
        )
        table.add_row(name, f"{rate:,.0f}", f"{rate / baseline:.2f}x")
    Console().print(table)
    size = sum(map(len, payloads)) / n
    Console().print(f"mean payload: {size:.0f} bytes")
    for op, stdlib in (("encode", "encode: stdlib json"), ("decode", "decode: stdlib json + validate")):
        record(
            Row("codec", f"RawRecord {op}", rows[f"{op}: tuneline (pydantic-core)"], "records/s",
                rows[stdlib], "stdlib json"),
        )  # fmt: skip


if __name__ == "__main__":
    main()
