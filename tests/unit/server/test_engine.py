"""The generation engine on a real (tiny) transformers model: batching must not change what a request
gets, and each request keeps its own length, stop strings and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.server.adapters.engine import (
    Delta,
    Engine,
    EngineHooks,
    Finished,
    GenerationEngine,
    Job,
    load_engine,
)
from services.server.core.limits import Sampling
from services.server.core.text import TextAssembler

PROMPTS = ["How do I reset my", "The fox lives in the", "Open the vpn page", "How do I unlock my badge?"]


def greedy(max_new_tokens: int, stop: tuple[str, ...] = ()) -> Sampling:
    return Sampling(max_new_tokens=max_new_tokens, temperature=0.0, top_p=1.0, stop=stop)


async def complete(
    engine: Engine, prompts: list[str], samplings: list[Sampling]
) -> list[tuple[str, Finished]]:
    loop = asyncio.get_running_loop()
    jobs = []
    for prompt, sampling in zip(prompts, samplings, strict=True):
        job = Job(
            engine.encode(prompt),
            sampling,
            TextAssembler(engine.decode, sampling.stop),
            loop,
            asyncio.Queue(),
        )
        jobs.append(job)
        engine.submit(job)
    return [await drain(job) for job in jobs]


async def drain(job: Job) -> tuple[str, Finished]:
    parts = []
    while True:
        piece = await asyncio.wait_for(job.out.get(), 60)
        if isinstance(piece, Delta):
            parts.append(piece.text)
        else:
            return "".join(parts), piece


@pytest.fixture
def engine(tiny_models: dict[str, Path]) -> Iterator[GenerationEngine]:
    batches: list[int] = []
    engine = load_engine(
        str(tiny_models["a"]), "cpu", "float32", 8, 0.05, EngineHooks(batch=batches.append), "t", "padded"
    )
    assert isinstance(engine, GenerationEngine)
    engine.batches = batches  # type: ignore[attr-defined]
    yield engine
    engine.stop()


def test_a_batch_answers_each_prompt_as_it_would_alone(engine: GenerationEngine) -> None:
    alone = [asyncio.run(complete(engine, [p], [greedy(12)]))[0] for p in PROMPTS]
    together = asyncio.run(complete(engine, PROMPTS, [greedy(12)] * len(PROMPTS)))
    assert [text for text, _ in together] == [text for text, _ in alone]
    assert engine.batches[-1] == len(PROMPTS)  # type: ignore[attr-defined]  # one generate call for the four
    assert any(text for text, _ in together)


def test_each_request_in_a_batch_stops_at_its_own_max_tokens(engine: GenerationEngine) -> None:
    limits = [2, 5, 9]
    results = asyncio.run(complete(engine, PROMPTS[:3], [greedy(n) for n in limits]))
    assert engine.batches[-1] == 3  # type: ignore[attr-defined]
    for (_, finished), limit in zip(results, limits, strict=True):
        assert finished.reason in ("length", "stop")
        if finished.reason == "length":
            assert finished.completion_tokens == limit
        else:
            assert finished.completion_tokens < limit


def test_a_stop_string_ends_one_request_and_is_not_sent(engine: GenerationEngine) -> None:
    ((text, _),) = asyncio.run(complete(engine, [PROMPTS[0]], [greedy(16)]))
    assert len(text) > 3, text
    stop = text[2:4]
    ((cut, finished),) = asyncio.run(complete(engine, [PROMPTS[0]], [greedy(16, stop=(stop,))]))
    assert finished.reason == "stop"
    assert stop not in cut and text.startswith(cut) and len(cut) <= text.index(stop)


def test_a_cancelled_request_ends_without_holding_back_the_others(engine: GenerationEngine) -> None:
    async def scenario() -> tuple[Finished, Finished]:
        loop = asyncio.get_running_loop()
        jobs = [
            Job(engine.encode(p), greedy(40), TextAssembler(engine.decode), loop, asyncio.Queue())
            for p in PROMPTS[:2]
        ]
        jobs[0].cancelled = True
        for job in jobs:
            engine.submit(job)
        first, second = await drain(jobs[0]), await drain(jobs[1])
        return first[1], second[1]

    cancelled, other = asyncio.run(scenario())
    assert cancelled.reason == "cancelled" and cancelled.completion_tokens == 0
    assert other.reason in ("length", "stop")
    assert other.reason == "stop" or other.completion_tokens == 40


def test_requests_that_sample_differently_go_in_separate_batches(engine: GenerationEngine) -> None:
    warm = Sampling(max_new_tokens=4, temperature=0.8, top_p=0.9, stop=())
    asyncio.run(complete(engine, PROMPTS[:4], [greedy(4), warm, greedy(4), warm]))
    assert sorted(engine.batches[-2:]) == [2, 2]  # type: ignore[attr-defined]


def test_a_stopped_engine_refuses_new_work(engine: GenerationEngine) -> None:
    engine.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        engine.submit(
            Job([1], greedy(1), TextAssembler(engine.decode), asyncio.new_event_loop(), asyncio.Queue())
        )


def test_the_continuous_batching_engine_answers_with_the_same_contract(tiny_models: dict[str, Path]) -> None:
    """transformers' continuous batching, picked on CUDA; its contract checked here on CPU."""
    from services.server.adapters.continuous import ContinuousEngine

    engine = load_engine(
        str(tiny_models["a"]), "cpu", "float32", 8, 0.0, EngineHooks(), "c", "continuous", 64
    )
    assert isinstance(engine, ContinuousEngine)
    try:
        limits = [3, 7, 12, 5]
        results = asyncio.run(complete(engine, PROMPTS, [greedy(n) for n in limits]))
        for (_, finished), limit in zip(results, limits, strict=True):
            assert finished.reason in ("length", "stop") and finished.error is None
            assert (
                finished.completion_tokens == limit
                if finished.reason == "length"
                else finished.completion_tokens < limit
            )
        assert any(text for text, _ in results)
        ((whole, _),) = asyncio.run(complete(engine, [PROMPTS[0]], [greedy(16)]))
        if len(whole) > 4:
            stop = whole[2:4]
            ((cut, finished),) = asyncio.run(complete(engine, [PROMPTS[0]], [greedy(16, (stop,))]))
            assert finished.reason == "stop" and stop not in cut
    finally:
        engine.stop()
