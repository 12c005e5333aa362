"""Model server throughput and latency: the real server (FastAPI + uvicorn on 127.0.0.1) over the
embedded SmolLM2-135M-Instruct, streamed chat completions from 1, 4 and 16 concurrent clients.

Side by side in one run, on the same model, prompts and token budget (greedy, so every setting writes
the same answers):
- the server as shipped: requests queued for a few milliseconds and generated together (one padded
  ``generate`` call per batch);
- the same server answering one request at a time (``max_batch`` 1): the sequential baseline;
- transformers' own continuous batching (``generate_batch``, paged attention) over the same prompts,
  without a server: what the engine would give if the server used it on this device.

Target: at 16 clients, at least 4x the sequential tokens/s on CPU; p99 time to first token is reported.

    .venv/bin/python -m benchmarks.serving                 # about 3 minutes on 2 cores
    .venv/bin/python -m benchmarks.serving --requests 1 --max-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import httpx
import torch
import uvicorn
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from benchmarks.report import Row, record
from libs.devstack.servers import free_port
from libs.models import EMBEDDED_MODEL, resolve_base_model
from services.server.adapters.engine import EngineHooks, load_engine
from services.server.adapters.http_api import create_app
from services.server.adapters.models import ServedModels
from services.server.core.limits import Limits
from services.server.metrics import ServerMetrics

console = Console(highlight=False)
if not console.is_terminal:  # a log file: long lines rather than wrapped ones
    console = Console(highlight=False, width=160)
TOKEN = "bench-" + "Zq8xW3vKp1Lm9Tn4"

QUESTIONS = [
    "How do I reset my password?",
    "My laptop will not connect to the office Wi-Fi. What should I check?",
    "How do I fix error AP-120 on a card terminal?",
    "What should I do when the printer shows a paper jam but there is no paper stuck?",
    "How can I share a calendar with my team?",
    "Why does the app keep signing me out?",
    "How do I request a new badge?",
    "What is the fastest way to free disk space on a work laptop?",
]


@dataclass
class Outcome:
    tokens: int
    ttft_s: float
    latency_s: float


@dataclass
class Level:
    name: str
    clients: int
    requests: int
    tokens: int
    wall_s: float
    ttft: list[float]
    latency: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p99(values: list[float]) -> float:
    return percentile(values, 0.99)


def _serve(folder: str, max_batch: int, batch_wait_ms: float, port: int) -> None:
    """The server process: the real app under uvicorn over one loaded model (clients live elsewhere, so
    their event loop does not compete with the server's for the interpreter)."""
    registry = CollectorRegistry()
    models = ServedModels(
        lambda d, r, uri: load_engine(
            uri, "auto", "float32", max_batch, batch_wait_ms / 1000, EngineHooks(), r
        )
    )
    models.switch("support", "bench", folder)
    app = create_app(models, ServerMetrics.create(registry), registry, TOKEN, Limits(), max_concurrent=256)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


class RunningServer:
    """``_serve`` in a process of its own, up until the block ends."""

    def __init__(self, folder: str, max_batch: int, batch_wait_ms: float) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_serve, args=(folder, max_batch, batch_wait_ms, self.port))

    def __enter__(self) -> RunningServer:
        self.process.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if not self.process.is_alive():
                break
            time.sleep(0.3)
        self.process.kill()
        raise RuntimeError("the model server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(30)


async def one_request(client: httpx.AsyncClient, question: str, max_tokens: int) -> Outcome:
    body = {
        "model": "support",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk: dict[str, Any] = json.loads(line.removeprefix("data: "))
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter()
    done = time.perf_counter()
    return Outcome(tokens, (first or done) - started, done - started)


async def level(port: int, name: str, clients: int, per_client: int, max_tokens: int) -> Level:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600, limits=limits
    ) as client:

        async def worker(index: int) -> list[Outcome]:
            return [
                await one_request(client, QUESTIONS[(index * per_client + i) % len(QUESTIONS)], max_tokens)
                for i in range(per_client)
            ]

        started = time.perf_counter()
        results = await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - started
    outcomes = [o for group in results for o in group]
    return Level(
        name,
        clients,
        len(outcomes),
        sum(o.tokens for o in outcomes),
        wall,
        [o.ttft_s for o in outcomes],
        [o.latency_s for o in outcomes],
    )


def engines_without_server(folder: str, prompts: int, max_tokens: int) -> dict[str, float]:
    """Tokens/s of the two ways transformers batches, over the same ``prompts`` chat prompts, with no
    server around them: one padded ``generate`` call (what the server runs) and continuous batching
    (``generate_batch``, paged attention). A figure is missing when that engine fails here."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from libs.training_data.render import generation_prompt

    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = [
        generation_prompt([{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], tokenizer)
        for i in range(prompts)
    ]
    inputs = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    config = GenerationConfig(
        max_new_tokens=max_tokens, do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=pad
    )
    out: dict[str, float] = {}
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        model.generate(**batch, generation_config=config)  # warm-up
        started = time.perf_counter()
        sequences = model.generate(**batch, generation_config=config)
        wall = time.perf_counter() - started
    generated = 0
    for row in sequences[
        :, batch["input_ids"].shape[1] :
    ].tolist():  # up to and with the first end of sequence
        generated += row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
    out["padded generate"] = generated / wall
    try:
        paged = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, attn_implementation="paged|sdpa"
        )
        paged.eval()
        paged.generate_batch(inputs=inputs[:2], generation_config=config, progress_bar=False)  # warm-up
        started = time.perf_counter()
        # Not under inference_mode: the paged cache is updated in place outside it.
        outputs = paged.generate_batch(inputs=inputs, generation_config=config, progress_bar=False)
        wall = time.perf_counter() - started
        out["continuous batching (generate_batch)"] = (
            sum(len(o.generated_tokens) for o in outputs.values()) / wall
        )
    except Exception as exc:  # noqa: BLE001 - a reference figure: report why it is missing, go on
        console.print(f"[yellow]transformers continuous batching did not run here: {exc}[/]")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2, help="requests per client at each level")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sequential-requests", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    folder = resolve_base_model(EMBEDDED_MODEL)
    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"

    levels: list[Level] = []
    with RunningServer(folder, max_batch=16, batch_wait_ms=args.batch_wait_ms) as server:
        asyncio.run(level(server.port, "warm-up", 2, 1, 8))
        for clients in (1, 4, 16):
            per_client = max(args.requests, 4 // clients) if clients < 4 else args.requests
            levels.append(asyncio.run(level(server.port, "batched", clients, per_client, args.max_tokens)))
            console.print(f"batched, {clients} clients: {levels[-1].tokens_per_s:,.1f} tokens/s")
    with RunningServer(folder, max_batch=1, batch_wait_ms=0) as server:
        asyncio.run(level(server.port, "warm-up", 1, 1, 8))
        sequential = asyncio.run(
            level(server.port, "one at a time", 16, max(1, args.sequential_requests // 16), args.max_tokens)
        )
        console.print(f"one at a time, 16 clients: {sequential.tokens_per_s:,.1f} tokens/s")
    engines = engines_without_server(folder, 16, args.max_tokens)

    table = Table(
        title=f"Model server, SmolLM2-135M-Instruct ({device}), {args.max_tokens} new tokens, greedy"
    )
    for column in (
        "server",
        "clients",
        "requests",
        "tokens/s",
        "vs sequential",
        "p50 latency",
        "p99 latency",
        "p50 TTFT",
        "p99 TTFT",
    ):
        table.add_column(column, justify="left" if column == "server" else "right")
    for item in [*levels, sequential]:
        table.add_row(
            item.name,
            str(item.clients),
            str(item.requests),
            f"{item.tokens_per_s:,.1f}",
            f"{item.tokens_per_s / sequential.tokens_per_s:.2f}x",
            f"{percentile(item.latency, 0.5):.2f} s",
            f"{percentile(item.latency, 0.99):.2f} s",
            f"{percentile(item.ttft, 0.5):.2f} s",
            f"{percentile(item.ttft, 0.99):.2f} s",
        )
    for name, rate in engines.items():
        times = f"{rate / sequential.tokens_per_s:.2f}x"
        table.add_row(f"{name}, no server", "16 prompts", "16", f"{rate:,.1f}", times, "-", "-", "-", "-")
    console.print(table)
    at16 = levels[-1]
    ratio = at16.tokens_per_s / sequential.tokens_per_s
    console.print(
        f"target >= 4x sequential tokens/s at 16 clients: [bold]{'met' if ratio >= 4 else 'not met'}[/] "
        f"({ratio:.2f}x); p99 time to first token at 16 clients {percentile(at16.ttft, 0.99):.2f} s"
    )
    rows = [
        Row(
            "server",
            f"tokens/s, {item.clients} clients",
            item.tokens_per_s,
            "tokens/s",
            sequential.tokens_per_s,
            "one at a time",
            min_ratio=4 if item.clients == 16 else None,
            note=f"p99 TTFT {p99(item.ttft):.2f} s, p99 latency {p99(item.latency):.2f} s",
        )
        for item in levels
    ]
    rows += [
        Row(
            "server",
            f"{name}, 16 prompts, no server",
            rate,
            "tokens/s",
            sequential.tokens_per_s,
            "one at a time",
        )
        for name, rate in engines.items()
    ]
    record(*rows)


if __name__ == "__main__":
    main()
