"""TUNELINE_NAMESPACE: one setting puts every topic, consumer group, Faust app id and table of a
pipeline inside ``<namespace>.``, so two pipelines share a broker and a DynamoDB without crosstalk."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from libs.common.settings import SharedSettings, get_shared_settings
from libs.schemas import Table, namespaced, raw_topic, raw_topic_pattern, table_name
from libs.schemas.names import source_of_raw_topic
from services.collector.settings import CollectorSettings
from services.evaluator.settings import EvaluatorSettings
from services.sanitizer.settings import SanitizerSettings
from services.trainer.settings import TrainerSettings
from services.writer.settings import WriterSettings


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TUNELINE_NAMESPACE", "team-b")
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")
    get_shared_settings.cache_clear()
    yield "team-b"
    get_shared_settings.cache_clear()


@pytest.fixture
def no_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TUNELINE_NAMESPACE", raising=False)
    monkeypatch.delenv("TUNELINE_TABLE_PREFIX", raising=False)
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")
    get_shared_settings.cache_clear()
    yield
    get_shared_settings.cache_clear()


def test_the_empty_namespace_changes_no_name() -> None:
    assert namespaced("sanitized.records") == "sanitized.records"
    assert raw_topic("crm") == "raw.crm"
    assert re.fullmatch(raw_topic_pattern(), "raw.crm")
    assert source_of_raw_topic("raw.crm") == "crm"


def test_a_namespace_prefixes_names_and_raw_topics() -> None:
    assert namespaced("tuneline-writer", "team-b") == "team-b.tuneline-writer"
    assert raw_topic("crm", "team-b") == "team-b.raw.crm"
    assert source_of_raw_topic("team-b.raw.crm", "team-b") == "crm"


@pytest.mark.parametrize(
    ("topic", "matches"),
    [
        ("team-b.raw.crm", True),
        ("team-b.raw.app.logs", True),
        ("team-b.raw.dlq", False),  # the raw dead letters are not input
        ("team-b.raw.dlq.sanitizer", False),
        ("team-b.raw.dlqs", True),  # only the `dlq` stem is reserved
        ("raw.crm", False),  # another pipeline's
        ("team-bx.raw.crm", False),
        ("team-b.sanitized.records", False),
    ],
)
def test_the_raw_pattern_matches_only_the_namespaces_raw_topics(topic: str, matches: bool) -> None:
    assert bool(re.fullmatch(raw_topic_pattern("team-b"), topic)) is matches


@pytest.mark.parametrize("bad", ["Team", "a.b", "-x", "has space", "x" * 41, "ü"])
def test_invalid_namespaces_are_refused(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="invalid namespace"):
        namespaced("raw.crm", bad)
    monkeypatch.setenv("TUNELINE_NAMESPACE", bad)
    with pytest.raises(ValidationError):
        SharedSettings()


def test_every_services_default_names_are_unchanged_without_a_namespace(no_namespace: None) -> None:
    assert SharedSettings().table_prefix == "tuneline-"
    collector = CollectorSettings()
    assert (collector.offsets_topic, collector.dlq_topic) == ("collector.offsets", "raw.dlq")
    sanitizer = SanitizerSettings()
    assert sanitizer.app_id == "tuneline-sanitizer"
    assert sanitizer.input_pattern == r"^raw\.(?!dlq(?:\.|$)).+"
    assert (sanitizer.output_topic, sanitizer.dlq_topic) == ("sanitized.records", "raw.dlq.sanitizer")
    assert sanitizer.by_hash_topic == "sanitizer.by-hash"
    assert (WriterSettings().group_id, WriterSettings().topic) == ("tuneline-writer", "sanitized.records")
    assert TrainerSettings().events_topic == "training.events"
    assert EvaluatorSettings().group_id == "tuneline-evaluator"


def test_one_setting_moves_every_topic_group_app_id_and_table(namespace: str) -> None:
    shared = get_shared_settings()
    assert shared.table_prefix == "team-b.tuneline-"
    assert table_name(Table.RECORDS, shared.table_prefix) == "team-b.tuneline-records"

    collector = CollectorSettings()
    sanitizer = SanitizerSettings()
    writer = WriterSettings()
    trainer = TrainerSettings()
    evaluator = EvaluatorSettings()
    names = [
        collector.offsets_topic,
        collector.dlq_topic,
        sanitizer.app_id,
        sanitizer.output_topic,
        sanitizer.dlq_topic,
        sanitizer.by_hash_topic,
        writer.group_id,
        writer.topic,
        writer.dlq_topic,
        trainer.events_topic,
        evaluator.group_id,
        evaluator.events_topic,
        evaluator.dlq_topic,
    ]
    assert all(name.startswith("team-b.") for name in names), names
    # what one service writes, the next reads: the names still line up inside the namespace
    assert sanitizer.output_topic == writer.topic == "team-b.sanitized.records"
    assert (collector.dlq_topic, sanitizer.dlq_topic) == ("team-b.raw.dlq", "team-b.raw.dlq.sanitizer")
    assert not re.fullmatch(sanitizer.input_pattern, sanitizer.dlq_topic)
    assert trainer.events_topic == evaluator.events_topic == "team-b.training.events"
    assert re.fullmatch(sanitizer.input_pattern, raw_topic("crm", namespace))
    assert not re.fullmatch(sanitizer.input_pattern, raw_topic("crm"))


def test_explicit_names_and_prefixes_go_inside_the_namespace(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNELINE_TABLE_PREFIX", "staging-")
    monkeypatch.setenv("TUNELINE_WRITER_GROUP_ID", "writers")
    monkeypatch.setenv("TUNELINE_SANITIZER_INPUT_TOPICS", '["raw.crm"]')
    get_shared_settings.cache_clear()
    assert get_shared_settings().table_prefix == "team-b.staging-"
    assert WriterSettings().group_id == "team-b.writers"
    assert SanitizerSettings().input_topics == ("team-b.raw.crm",)
