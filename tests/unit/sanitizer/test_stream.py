"""The Faust agents through ``agent.test_context()`` (no broker), and the per-message logic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from libs.schemas import RawRecord, SanitizedRecord, decode, encode
from services.sanitizer.adapters.faust_app import SanitizerApp, create_app
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.settings import SanitizerSettings
from tests.unit.sanitizer.conftest import KEYS, FakeNer


class Collected:
    """``Outputs`` that keeps what would have been sent."""

    def __init__(self) -> None:
        self.by_hash_msgs: list[tuple[bytes, bytes, dict[str, bytes]]] = []
        self.sanitized_msgs: list[tuple[bytes, bytes]] = []
        self.dead: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        self.by_hash_msgs.append((key, value, headers))

    async def sanitized(self, key: bytes, value: bytes) -> None:
        self.sanitized_msgs.append((key, value))

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        self.dead.append((key, value, headers))


@pytest.fixture
def sanitizer_app(tmp_path: Path) -> tuple[SanitizerApp, Collected]:
    settings = SanitizerSettings(
        dev_mode=True, store="memory://", datadir=str(tmp_path), partitions=1, input_topics=("raw.support",)
    )
    built = create_app(settings, SanitizerPolicy(), KEYS, FakeNer(fail_on="Poison"))
    outputs = Collected()
    built.stream.outputs = outputs
    return built, outputs


def test_prepare_agent_forwards_by_hash_and_dead_letters_bad_input(
    sanitizer_app: tuple[SanitizerApp, Collected], make_record: Callable[..., RawRecord]
) -> None:
    built, out = sanitizer_app
    record = make_record("  Hello   world, call me at +1 415-555-0134 ")
    results = asyncio.run(_run_prepare(built, record, make_record))
    assert results == ["forwarded", "dlq:not_json", "dlq:invalid_record", "dlq:oversize", "too_short"]
    ((key, value, headers),) = out.by_hash_msgs
    assert headers == {"origin_topic": b"raw.support", "origin_partition": b"0", "origin_offset": b"0"}
    forwarded = decode(RawRecord, value)
    assert forwarded.id == record.id and forwarded.content == "Hello world, call me at +1 415-555-0134"
    assert len(key) == 32
    reasons = [headers["reason"] for _, _, headers in out.dead]
    assert reasons == [b"not_json", b"invalid_record", b"oversize"]
    body = json.loads(out.dead[0][1])
    assert body["reason"] == "not_json" and body["value"] == "{oops" and "offset" in body
    assert "value" not in json.loads(out.dead[2][1])  # too big to keep


async def _run_prepare(
    built: SanitizerApp, record: RawRecord, make_record: Callable[..., RawRecord]
) -> list[str]:
    async with built.prepare.test_context() as agent:
        ok = await agent.put(encode(record), key=record.id.encode())
        not_json = await agent.put(b"{oops", key=b"k1")
        invalid = await agent.put(b'{"id": "x"}', key=b"k2")
        oversize = await agent.put(b"x" * (2 * 1024 * 1024), key=b"k3")
        short = await agent.put(encode(make_record("hi")), key=b"k4")
        return [agent.results[e.message.offset] for e in (ok, not_json, invalid, oversize, short)]


def test_finish_agent_dedups_anonymizes_and_isolates_failures(
    sanitizer_app: tuple[SanitizerApp, Collected], make_record: Callable[..., RawRecord]
) -> None:
    built, out = sanitizer_app
    text = "Dear Jean Dupont, the refund for ORD-2024-1 went to jean@corp.fr today as promised."
    first, copy = make_record(text, id="first"), make_record(text, id="copy")
    poison = make_record("we saw the Poison record here", id="poison")
    after = make_record("the next record is fine and mentions nobody at all", id="after")
    h1, h2, h3 = b"1" * 32, b"2" * 32, b"3" * 32
    messages = [(first, h1), (copy, h1), (first, h1), (poison, h2), (after, h3)]

    async def run() -> list[str]:
        async with built.finish.test_context() as agent:
            events = [await agent.put(encode(r), key=key) for r, key in messages]
            return [agent.results[e.message.offset] for e in events]

    results = asyncio.run(run())
    assert results == ["sanitized", "duplicate", "sanitized", "dlq:recognizer_error", "sanitized"]
    outputs = [decode(SanitizedRecord, v) for _, v in out.sanitized_msgs]
    assert [r.id for r in outputs] == ["first", "first", "after"]  # the redelivered first copy passes again
    assert outputs[0].content_hash == "1" * 32 and outputs[0].pii == {"PERSON": 1, "EMAIL": 1}
    assert "Jean" not in outputs[0].content and "jean@corp.fr" not in outputs[0].content
    assert [h["reason"] for _, _, h in out.dead] == [b"recognizer_error"]
    assert built.first_ids["1" * 32] == "first"
