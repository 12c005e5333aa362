"""Resolving the raw-topic pattern (Faust cannot subscribe by pattern) and noticing new sources."""

from __future__ import annotations

import threading

from libs.schemas.names import raw_topic_pattern
from services.sanitizer.adapters.raw_topics import NewTopicWatcher, matching_topics, wait_for_raw_topics

BROKER = [
    "__consumer_offsets",
    "raw.support",
    "raw.dlq",
    "raw.dlq.sanitizer",
    "raw.app-logs",
    "sanitized.records",
    "team.raw.crm",
    "team.raw.dlq.sanitizer",
]


def test_the_default_pattern_takes_every_raw_topic_but_the_dead_letters() -> None:
    assert matching_topics(BROKER, raw_topic_pattern()) == ["raw.app-logs", "raw.support"]
    assert matching_topics(BROKER, raw_topic_pattern("team")) == ["team.raw.crm"]


def test_waiting_ends_when_a_collector_creates_a_raw_topic() -> None:
    answers = iter([["sanitized.records"], ["raw.dlq"], ["raw.dlq", "raw.support"]])
    found = wait_for_raw_topics(lambda: next(answers), raw_topic_pattern(), threading.Event(), poll_s=0.0)
    assert found == ["raw.support"]


def test_waiting_stops_on_shutdown_with_nothing_found() -> None:
    stopping = threading.Event()
    stopping.set()
    assert wait_for_raw_topics(lambda: [], raw_topic_pattern(), stopping) == []


def test_a_new_raw_topic_restarts_the_worker_but_known_ones_do_not() -> None:
    broker = ["raw.support"]
    restarts: list[list[str]] = []
    watcher = NewTopicWatcher(lambda: broker, raw_topic_pattern(), ["raw.support"], 60.0, restarts.append)
    assert watcher.check() == [] and restarts == []
    broker.extend(["raw.dlq", "raw.dlq.sanitizer"])  # not sources
    assert watcher.check() == []
    broker.append("raw.crm")
    assert watcher.check() == ["raw.crm"] and restarts == [["raw.crm"]]
