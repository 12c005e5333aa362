"""The Faust agents through ``agent.test_context()`` (no broker), and the per-message logic."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from libs.common.deadletter import MAX_DEAD_LETTER_BYTES
from libs.schemas import DeadLetter, RawRecord, SanitizedRecord, decode, encode
from services.sanitizer import metrics
from services.sanitizer.adapters.faust_app import (
    SanitizerApp,
    TopicOutputs,
    create_app,
    producer_max_request_size,
)
from services.sanitizer.adapters.stream import Incoming, Outgoing
from services.sanitizer.core.pipeline import Outcome, Work
from services.sanitizer.core.policy import SanitizerPolicy
from services.sanitizer.settings import SanitizerSettings
from tests.unit.sanitizer.conftest import KEYS, FakeNer


class Collected:
    """``Outputs`` that keeps what would have been sent."""

    def __init__(self) -> None:
        self.by_hash_msgs: list[tuple[bytes, bytes, dict[str, bytes]]] = []
        self.sanitized_msgs: list[tuple[bytes, bytes]] = []
        self.dead: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        self.batches: list[int] = []  # messages per send_all

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        self.by_hash_msgs.append((key, value, headers))

    async def sanitized(self, key: bytes, value: bytes) -> None:
        self.sanitized_msgs.append((key, value))

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        self.dead.append((key, value, headers))

    async def send_all(self, messages: Sequence[Outgoing]) -> None:
        self.batches.append(len(messages))
        for m in messages:
            if m.topic == "by_hash":
                await self.by_hash(m.key or b"", m.value, m.headers)
            elif m.topic == "sanitized":
                await self.sanitized(m.key or b"", m.value)
            else:
                await self.dead_letter(m.key, m.value, m.headers)


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
    letter = decode(DeadLetter, out.dead[0][1])
    assert (letter.reason, letter.service, letter.source) == ("not_json", "sanitizer", "support")
    assert letter.value is not None and letter.value.raw() == b"{oops" and not letter.value.truncated
    assert (letter.source_topic, letter.source_offset) == ("raw.support", 1) and out.dead[0][0] == b"k1"
    too_big = decode(DeadLetter, out.dead[2][1]).value  # cut to fit the dead-letter topic
    assert too_big is not None and too_big.truncated and too_big.size == 2 * 1024 * 1024


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


def test_prepare_runs_a_batch_at_once_and_isolates_a_record_that_breaks_a_step(
    sanitizer_app: tuple[SanitizerApp, Collected],
    make_record: Callable[..., RawRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built, out = sanitizer_app
    hasher = built.stream.prepare.steps[-1]
    hash_one = hasher.process  # type: ignore[union-attr]
    calls: list[str] = []

    def breaks_on_poison(work: Work) -> Outcome:
        calls.append(work.record.id)
        if "Poison" in work.content:
            raise RuntimeError("a step failed")
        return hash_one(work)

    monkeypatch.setattr(hasher, "process", breaks_on_poison)
    texts = {
        "a": "the first ticket is fine",
        "p": "the Poison ticket breaks a step",
        "b": "so is the last one",
    }
    records = [make_record(text, id=rid) for rid, text in texts.items()]
    items = [Incoming(r.id.encode(), encode(r), "raw.support", 0, n) for n, r in enumerate(records)]
    results = asyncio.run(built.stream.on_raw_batch(items))
    assert results == ["forwarded", "dlq:internal_error", "forwarded"]
    assert calls == ["a", "p", "a", "p", "b"]  # the batch at once, then record by record
    assert [decode(RawRecord, v).id for _, v, _ in out.by_hash_msgs] == ["a", "b"]
    assert [h["reason"] for _, _, h in out.dead] == [b"internal_error"]
    assert out.batches == [3]  # one send for the whole batch


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


class BrokerDown(Collected):
    """``Outputs`` whose every send fails, as when the broker does not confirm a message."""

    async def by_hash(self, key: bytes, value: bytes, headers: dict[str, bytes]) -> None:
        raise ConnectionError("broker did not confirm")

    async def sanitized(self, key: bytes, value: bytes) -> None:
        raise ConnectionError("broker did not confirm")

    async def dead_letter(self, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        raise ConnectionError("broker did not confirm")


@pytest.mark.parametrize("agent_name", ["prepare", "finish"])
@pytest.mark.parametrize("content", ["a record long enough to be forwarded", "{oops"])
def test_a_failed_send_is_raised_and_the_event_stays_unacked(
    sanitizer_app: tuple[SanitizerApp, Collected],
    make_record: Callable[..., RawRecord],
    agent_name: str,
    content: str,
) -> None:
    """At-least-once: a message whose output (or dead letter) was not confirmed must not be acked,
    or its offset would be committed and the record lost."""
    built, _ = sanitizer_app
    built.stream.outputs = BrokerDown()
    value = content.encode() if content.startswith("{") else encode(make_record(content, id="r1"))

    async def run() -> bool:
        async with getattr(built, agent_name).test_context() as agent:
            event = await agent.put(value, key=b"1" * 32, wait=False)
            async with agent.new_value_processed:
                await asyncio.wait_for(agent.new_value_processed.wait(), 10)
            assert isinstance(agent.crash_reason, ConnectionError)
            assert agent.results == {}
        # the agent and its streams have stopped (a plain `async for` acks in its `finally` then)
        gc.collect()
        await asyncio.sleep(0.1)
        return bool(event.message.acked)

    assert asyncio.run(run()) is False

    async def reread() -> str:  # the restarted worker reads the message again, and it goes through
        async with getattr(built, agent_name).test_context() as agent:
            event = await agent.put(value, key=b"1" * 32)
            return str(agent.results[event.message.offset])

    built.stream.outputs = Collected()
    expected = {"prepare": "forwarded", "finish": "sanitized"}[agent_name]
    assert asyncio.run(reread()) == (expected if value.startswith(b'{"') else "dlq:not_json")


def test_a_confirmed_event_is_acked(
    sanitizer_app: tuple[SanitizerApp, Collected], make_record: Callable[..., RawRecord]
) -> None:
    built, out = sanitizer_app

    async def run() -> bool:
        async with built.prepare.test_context() as agent:
            event = await agent.put(encode(make_record("a record long enough to be forwarded")), key=b"k")
            return bool(event.message.acked)

    assert asyncio.run(run()) is True
    assert len(out.by_hash_msgs) == 1


class _FakeTopic:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.sent: list[dict[str, object]] = []

    async def send(self, **message: object) -> asyncio.Future[None]:
        self.sent.append(message)
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.error is None:
            delivery.set_result(None)
        else:
            delivery.set_exception(self.error)
        return delivery


def test_topic_outputs_wait_for_the_delivery_and_raise_its_error() -> None:
    ok, failing = _FakeTopic(None), _FakeTopic(ConnectionError("message not delivered"))
    outputs = TopicOutputs(ok, failing, failing)

    async def run() -> None:
        await outputs.send_all(
            [Outgoing("by_hash", b"k", b"v", {"h": b"1"}), Outgoing("by_hash", b"k2", b"w")]
        )
        with pytest.raises(ConnectionError):
            await outputs.send_all([Outgoing("by_hash", b"k3", b"x"), Outgoing("sanitized", b"k", b"v")])
        with pytest.raises(ConnectionError):
            await outputs.send_all([Outgoing("dead_letter", None, b"v")])

    asyncio.run(run())
    assert ok.sent == [  # in order, all queued before any is awaited
        {"key": b"k", "value": b"v", "headers": {"h": b"1"}, "force": True},
        {"key": b"k2", "value": b"w", "force": True},
        {"key": b"k3", "value": b"x", "force": True},
    ]
    assert [m["key"] for m in failing.sent] == [b"k", None]


def test_a_send_never_confirmed_raises_instead_of_hanging() -> None:
    """A delivery future that never resolves would leave the worker alive but consuming nothing."""

    class _Silent:
        async def send(self, **message: object) -> asyncio.Future[None]:
            return asyncio.get_running_loop().create_future()

    outputs = TopicOutputs(_Silent(), _Silent(), _Silent(), timeout_s=0.05)

    async def run() -> None:
        with pytest.raises(TimeoutError):
            await outputs.send_all([Outgoing("sanitized", b"k", b"v")])

    asyncio.run(run())


def test_streams_are_held_until_faust_clears_the_agents_buffers(
    sanitizer_app: tuple[SanitizerApp, Collected],
) -> None:
    """Faust sends on_rebalance_complete before it resumes and seeks the stream partitions, and clears
    the agents' buffers only afterwards (flow_control.resume()): events must not get in before that."""
    app = sanitizer_app[0].app

    async def run() -> tuple[bool, bool]:
        app.flow_control.resume()  # open since the changelog recovery
        await app.on_rebalance_complete.send()
        held = not app.flow_control.is_active()
        app.flow_control.resume()  # what Faust's recovery does once the partitions are seeked
        return held, app.flow_control.is_active()

    assert asyncio.run(run()) == (True, True)


def test_skipped_offsets_are_counted(
    sanitizer_app: tuple[SanitizerApp, Collected], make_record: Callable[..., RawRecord]
) -> None:
    built, _ = sanitizer_app
    counter = metrics.OFFSETS_SKIPPED.labels("prepare")
    before = counter._value.get()

    async def run() -> None:
        async with built.prepare.test_context() as agent:
            for n in range(2):
                await agent.put(encode(make_record(f"record number {n} is long enough", id=f"r{n}")))
            agent.sent_offset += 3  # offsets 2-4 never reach the agent
            await agent.put(encode(make_record("the record after the gap is long enough", id="r5")))

    asyncio.run(run())
    assert counter._value.get() - before == 3


def test_producer_accepts_what_the_sanitizer_sends() -> None:
    assert producer_max_request_size(1024 * 1024, 1_000_000) > 1024 * 1024
    assert producer_max_request_size(1024, 4 * 1024 * 1024) > 4 * 1024 * 1024
    assert producer_max_request_size(1024, 1024) > MAX_DEAD_LETTER_BYTES


def test_an_output_over_the_message_limit_is_dead_lettered(
    sanitizer_app: tuple[SanitizerApp, Collected], make_record: Callable[..., RawRecord]
) -> None:
    """A message the broker would refuse would stop the worker on every restart: it is a dead letter."""
    built, out = sanitizer_app
    record = make_record("the billing export finished without errors again today " * 40, id="big")
    built.stream.max_message_bytes = len(encode(record)) - 10  # a little under its size once normalized
    raw = asyncio.run(built.stream.on_raw(b"k", encode(record), "raw.support", 0, 3))
    finished = asyncio.run(built.stream.on_by_hash(b"1" * 32, encode(record), "sanitizer.by-hash", 0, 4))
    assert raw == finished == "dlq:oversize"
    assert out.by_hash_msgs == [] and out.sanitized_msgs == [] and dict(built.first_ids) == {}
    details = [json.loads(v)["detail"] for _, v, _ in out.dead]
    assert "normalized record of" in details[0] and "sanitized record of" in details[1]


@pytest.mark.parametrize(
    "data",
    [
        b"x" * (MAX_DEAD_LETTER_BYTES - 100),  # fits as bytes, not once the letter is around it
        b"\x01" * (MAX_DEAD_LETTER_BYTES // 3),  # small, but JSON escapes make it 6 times bigger
        b"\xff" * (MAX_DEAD_LETTER_BYTES * 7 // 8),  # not UTF-8: base64 makes it 4/3 bigger
    ],
)
def test_an_oversize_dead_letter_keeps_a_flagged_prefix_of_the_value(
    sanitizer_app: tuple[SanitizerApp, Collected], data: bytes
) -> None:
    built, out = sanitizer_app
    result = asyncio.run(built.stream.on_raw(b"k" * 5000, data, "raw.support", 0, 7))
    assert result.startswith("dlq:")
    ((key, value, headers),) = out.dead
    assert len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers.items()) <= (
        MAX_DEAD_LETTER_BYTES
    )
    letter = decode(DeadLetter, value)
    assert letter.value is not None and letter.value.truncated and letter.value.size == len(data)
    assert data.startswith(letter.value.raw())
    assert key is None and letter.key is not None and letter.key.truncated and letter.key.size == 5000
    assert letter.source_offset == 7 and letter.reason == headers["reason"].decode()


def test_a_small_dead_letter_keeps_the_value(sanitizer_app: tuple[SanitizerApp, Collected]) -> None:
    built, out = sanitizer_app
    assert asyncio.run(built.stream.on_raw(b"k", b"not json", "raw.support", 0, 1)) == "dlq:not_json"
    letter = decode(DeadLetter, out.dead[0][1])
    assert letter.value is not None and letter.value.raw() == b"not json" and not letter.value.truncated
    assert letter.key is not None and letter.key.raw() == b"k" and out.dead[0][2]["service"] == b"sanitizer"


def test_dead_letters_without_values_when_told(sanitizer_app: tuple[SanitizerApp, Collected]) -> None:
    built, out = sanitizer_app
    built.stream.keep_dead_letter_values = False  # TUNELINE_SANITIZER_DLQ_KEEP_VALUE=false
    assert asyncio.run(built.stream.on_raw(b"k", b"jane@corp.io", "raw.support", 0, 1)) == "dlq:not_json"
    ((key, value, _),) = out.dead
    letter = decode(DeadLetter, value)
    assert letter.value is None and b"jane" not in value and letter.source_offset == 1 and key == b"k"


class FailsOnce(FakeNer):
    """A recognizer that fails on the first text with the marker only (a transient model failure)."""

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        try:
            return super().tag(texts)
        finally:
            self.fail_on = None


def test_a_dead_lettered_first_copy_does_not_make_the_next_a_duplicate(
    tmp_path: Path, make_record: Callable[..., RawRecord]
) -> None:
    settings = SanitizerSettings(
        dev_mode=True, store="memory://", datadir=str(tmp_path), partitions=1, input_topics=("raw.support",)
    )
    built = create_app(settings, SanitizerPolicy(), KEYS, FailsOnce(fail_on="Glitch"))
    out = Collected()
    built.stream.outputs = out
    text = "the Glitch report of the billing export came back empty again this morning"
    first, second, third = (make_record(text, id=i) for i in ("first", "second", "third"))

    async def run() -> list[str]:
        async with built.finish.test_context() as agent:
            events = [await agent.put(encode(r), key=b"1" * 32) for r in (first, second, third)]
            return [agent.results[e.message.offset] for e in events]

    assert asyncio.run(run()) == ["dlq:recognizer_error", "sanitized", "duplicate"]
    assert [decode(SanitizedRecord, v).id for _, v in out.sanitized_msgs] == ["second"]
    assert built.first_ids["1" * 32] == "second"


def test_too_long_and_unrouted_records_are_dead_lettered(
    tmp_path: Path, make_record: Callable[..., RawRecord]
) -> None:
    settings = SanitizerSettings(
        dev_mode=True, store="memory://", datadir=str(tmp_path), partitions=1, input_topics=("raw.support",)
    )
    policy = SanitizerPolicy.model_validate(
        {"datasets": {"default": None, "sources": {"crm": "sales"}}, "normalize": {"max_chars": 40}}
    )
    built = create_app(settings, policy, KEYS, FakeNer())
    out = Collected()
    built.stream.outputs = out
    long = make_record("a record that is much longer than forty characters, so too long")
    unrouted = make_record("a record of a source that feeds nothing", id="unrouted")

    async def run() -> list[str]:
        async with built.prepare.test_context() as prepare:
            too_long = await prepare.put(encode(long), key=b"k1")
            result = prepare.results[too_long.message.offset]
        async with built.finish.test_context() as finish:
            event = await finish.put(encode(unrouted), key=b"2" * 32)
            return [result, finish.results[event.message.offset]]

    assert asyncio.run(run()) == ["dlq:too_long", "dlq:no_dataset"]
    letters = [decode(DeadLetter, v) for _, v, _ in out.dead]
    assert [x.reason for x in letters] == ["too_long", "no_dataset"]
    assert letters[1].value is not None and letters[1].value.raw() == encode(unrouted)
    assert out.sanitized_msgs == [] and dict(built.first_ids) == {}


@pytest.mark.parametrize(
    ("configured", "floor", "expected"),
    [
        ("DEBUG", "WARNING", "WARNING"),
        ("info", "WARNING", "WARNING"),
        ("ERROR", "WARNING", "ERROR"),
        ("DEBUG", "INFO", "INFO"),  # TUNELINE_SANITIZER_LIBRARY_LOG_LEVEL=INFO, to investigate
        ("WARNING", "INFO", "WARNING"),
    ],
)
def test_libraries_that_log_values_stay_at_warning(configured: str, floor: str, expected: str) -> None:
    """Faust logs message keys and values at DEBUG (``send: ... k=%r v=%r``)."""
    from services.sanitizer.__main__ import quiet_value_logging_libraries

    loggers = [logging.getLogger(name) for name in ("faust", "mode", "aiokafka")]
    before = [lg.level for lg in loggers]
    try:
        quiet_value_logging_libraries(configured, floor)
        assert [logging.getLevelName(lg.level) for lg in loggers] == [expected] * 3
        assert not logging.getLogger("faust.topics").isEnabledFor(logging.DEBUG)
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)


def test_library_log_level_defaults_to_warning() -> None:
    assert SanitizerSettings(dev_mode=True).library_log_level == "WARNING"
    with pytest.raises(ValueError, match="library_log_level"):
        SanitizerSettings(dev_mode=True, library_log_level="LOUD")


@pytest.fixture
def batched_app(tmp_path: Path) -> tuple[SanitizerApp, Collected, FakeNer]:
    settings = SanitizerSettings(
        dev_mode=True,
        store="memory://",
        datadir=str(tmp_path),
        partitions=1,
        input_topics=("raw.support",),
        batch_size=8,
        batch_within_s=0.3,
    )
    ner = FakeNer(fail_on="Poison")
    built = create_app(settings, SanitizerPolicy(), KEYS, ner)
    outputs = Collected()
    built.stream.outputs = outputs
    return built, outputs, ner


async def _results(agent: object, count: int, timeout_s: float = 10.0) -> dict[int, object]:
    results: dict[int, object] = agent.results  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(results) < count and asyncio.get_running_loop().time() < deadline:
        if agent.crash_reason is not None:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    return results


def test_finish_agent_takes_a_batch_runs_ner_once_and_sends_it_together(
    batched_app: tuple[SanitizerApp, Collected, FakeNer], make_record: Callable[..., RawRecord]
) -> None:
    built, out, ner = batched_app
    text = "Dear Jean Dupont, the refund for ORD-2024-1 went to jean@corp.fr today as promised."
    first, copy = make_record(text, id="first"), make_record(text, id="copy")
    after = make_record("the next record is fine and yesterday Brandt agreed with it", id="after")
    other = make_record("a third one from the night shift, the ticket went to Okafor", id="other")
    h1 = b"1" * 32
    messages = [(first, h1), (copy, h1), (first, h1), (after, b"3" * 32), (other, b"4" * 32)]

    async def run() -> tuple[list[object], list[bool]]:
        async with built.finish.test_context() as agent:
            events = [await agent.put(encode(r), key=key, wait=False) for r, key in messages]
            results = await _results(agent, len(events))
            return [results.get(i) for i in range(len(events))], [bool(e.message.acked) for e in events]

    results, acked = asyncio.run(run())
    # in order; the copy is a duplicate of a record of the same batch, the redelivered first passes
    assert results == ["sanitized", "duplicate", "sanitized", "sanitized", "sanitized"]
    assert all(acked)
    ids = [decode(SanitizedRecord, v).id for _, v in out.sanitized_msgs]
    assert ids == ["first", "first", "after", "other"]
    assert out.batches == [4]  # one batch, its messages confirmed together
    assert len(ner.calls) == 1  # NER once, over the whole batch
    scanned = " ".join(ner.calls[0])
    assert "Brandt" in scanned and "Okafor" in scanned
    assert built.first_ids["1" * 32] == "first"


def test_a_failed_send_leaves_the_whole_batch_unacked(
    batched_app: tuple[SanitizerApp, Collected, FakeNer], make_record: Callable[..., RawRecord]
) -> None:
    built, _, _ = batched_app
    built.stream.outputs = BrokerDown()
    records = [make_record(f"record number {i} is long enough to pass", id=f"r{i}") for i in range(3)]

    async def run() -> list[bool]:
        async with built.finish.test_context() as agent:
            events = [await agent.put(encode(r), key=b"%032d" % i, wait=False) for i, r in enumerate(records)]
            results = await _results(agent, 1)
            assert isinstance(agent.crash_reason, ConnectionError)
            assert results == {}
        gc.collect()
        await asyncio.sleep(0.1)
        return [bool(e.message.acked) for e in events]

    assert asyncio.run(run()) == [False, False, False]


def test_a_lone_record_waits_at_most_within_not_for_the_batch_to_fill(
    batched_app: tuple[SanitizerApp, Collected, FakeNer], make_record: Callable[..., RawRecord]
) -> None:
    built, out, _ = batched_app

    async def run() -> float:
        async with built.prepare.test_context() as agent:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait_for(agent.put(encode(make_record("a lone record, long enough")), key=b"k"), 5)
            return loop.time() - started

    assert asyncio.run(run()) < 0.3 + 0.5  # within (0.3 s) and some slack; the batch of 8 never fills
    assert len(out.by_hash_msgs) == 1


def test_a_batch_of_consecutive_offsets_skips_none(
    batched_app: tuple[SanitizerApp, Collected, FakeNer], make_record: Callable[..., RawRecord]
) -> None:
    built, out, _ = batched_app
    counter = metrics.OFFSETS_SKIPPED.labels("prepare")
    before = counter._value.get()

    async def run() -> None:
        async with built.prepare.test_context() as agent:
            for n in range(5):  # a batch of one, then one of four
                record = encode(make_record(f"record number {n} is long enough", id=f"r{n}"))
                await agent.put(record, wait=n == 0)
            await _results(agent, 5)

    asyncio.run(run())
    assert len(out.by_hash_msgs) == 5 and out.batches == [1, 4]
    assert counter._value.get() == before


def test_each_table_write_of_a_batch_goes_to_its_own_events_partition(
    tmp_path: Path, make_record: Callable[..., RawRecord]
) -> None:
    """A batch mixes partitions; the dedup history's changelog write for a record must land on the
    partition of that record's event (Faust finds it in the current event, which the batch sets per
    record through Faust's private context variable: this fails if a Faust upgrade moves it)."""
    settings = SanitizerSettings(
        dev_mode=True,
        store="memory://",
        datadir=str(tmp_path),
        partitions=4,
        input_topics=("raw.support",),
        batch_size=8,
        batch_within_s=0.3,
    )
    built = create_app(settings, SanitizerPolicy(), KEYS, FakeNer())
    built.stream.outputs = Collected()
    written: dict[str, int | None] = {}
    table = built.first_ids
    original = table.partition_for_key

    def partition_for_key(key: str) -> int | None:
        written[key] = original(key)
        return written[key]

    table.partition_for_key = partition_for_key
    texts = [f"record {n} of the batch, long enough to be kept by the filters" for n in range(4)]
    hashes = [(f"{n}" * 32).encode() for n in range(4)]

    async def run() -> None:
        async with built.finish.test_context() as agent:
            for n, (text, key) in enumerate(zip(texts, hashes, strict=True)):
                await agent.put(encode(make_record(text, id=f"r{n}")), key=key, partition=3 - n, wait=False)
            await _results(agent, 4)

    asyncio.run(run())
    assert written == {key.decode(): 3 - n for n, key in enumerate(hashes)}
