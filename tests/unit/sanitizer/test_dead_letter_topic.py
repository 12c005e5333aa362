"""The sanitizer's dead letters hold the raw message they reject: the worker built from its default
settings sends them to ``raw.dlq.sanitizer`` (inside the namespace), never to a ``sanitized.*`` topic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faust.topics import Topic

from libs.common.settings import get_shared_settings
from libs.schemas import DeadLetter, RawRecord, decode, encode
from services.sanitizer.adapters.faust_app import create_app
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.settings import SanitizerSettings
from tests.unit.sanitizer.conftest import KEYS, FakeNer


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    """Every message the app's topics send, by topic name (Faust's producer is never reached)."""
    messages: list[tuple[str, bytes]] = []

    async def send(self: Topic, **message: Any) -> asyncio.Future[None]:
        messages.append((self.get_topic_name(), message["value"]))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered

    monkeypatch.setattr(Topic, "send", send)
    return messages


@pytest.fixture(params=["", "team-b"], ids=["no-namespace", "namespace"])
def namespace(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TUNELINE_NAMESPACE", request.param)
    monkeypatch.delenv("TUNELINE_SANITIZER_DLQ_TOPIC", raising=False)
    get_shared_settings.cache_clear()
    yield request.param
    get_shared_settings.cache_clear()


def test_rejected_raw_messages_are_sent_to_the_raw_dead_letter_topic(
    namespace: str, sent: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    settings = SanitizerSettings(  # input_topics are put inside the namespace, like every name
        dev_mode=True, store="memory://", datadir=str(tmp_path), partitions=1, input_topics=("raw.support",)
    )
    built = create_app(settings, SanitizerPolicy(), KEYS, FakeNer())
    record = RawRecord.model_validate(
        {
            "id": "rec-1",
            "source": "support",
            "kind": "log",
            "content": "hello world, this is a record from Jane at jane@example.com",
            "collected_at": "2026-01-01T00:00:00Z",
        }
    )

    async def run() -> list[object]:
        async with built.prepare.test_context() as agent:
            good = await agent.put(encode(record), key=b"rec-1")
            bad = await agent.put(b'{"content": "Jane Doe, jane@example.com", oops', key=b"k1")
            return [agent.results[e.message.offset] for e in (good, bad)]

    assert asyncio.run(run()) == ["forwarded", "dlq:not_json"]
    expected = f"{namespace}.raw.dlq.sanitizer" if namespace else "raw.dlq.sanitizer"
    dead = [(topic, value) for topic, value in sent if "dlq" in topic]
    assert [topic for topic, _ in dead] == [expected]
    letter = decode(DeadLetter, dead[0][1])
    # the raw text travels in the dead letter: that is why the topic is under raw.
    assert letter.value is not None and b"jane@example.com" in letter.value.raw()
    assert not any(topic.startswith(("sanitized.", f"{namespace}.sanitized.")) for topic, _ in dead)
