"""Dead letters keep the input they could not handle. Where that input is unsanitized, the dead-letter
topic lives under ``raw.``, so an access rule on the prefix ``sanitized.`` never exposes raw text, and
the sanitizer never reads a dead-letter topic as a source."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from libs.common.settings import get_shared_settings
from libs.schemas import names
from libs.schemas.names import raw_topic, raw_topic_pattern
from services.collector.settings import CollectorSettings
from services.evaluator.settings import EvaluatorSettings
from services.sanitizer.settings import SanitizerSettings
from services.writer.settings import WriterSettings

# What each dead-letter topic of names.py can hold. A new *_DLQ_TOPIC must be added here, with what it
# carries, before test_every_dead_letter_topic_is_classified passes.
CARRIES_RAW = {"RAW_DLQ_TOPIC": True, "SANITIZER_DLQ_TOPIC": True}
CARRIES_NO_RAW = {
    "WRITER_DLQ_TOPIC": "records read from sanitized.records",
    "EVALUATOR_DLQ_TOPIC": "training events (run metadata, no record text)",
}


@pytest.fixture(params=["", "team-b"], ids=["no-namespace", "namespace"])
def namespace(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for var in ("TUNELINE_TABLE_PREFIX", *(f"TUNELINE_{s}_DLQ_TOPIC" for s in ("COLLECTOR", "SANITIZER"))):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TUNELINE_NAMESPACE", request.param)
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")
    for var in ("TUNELINE_SANITIZER_DLQ_KEEP_VALUE", "TUNELINE_COLLECTOR_DLQ_KEEP_VALUE"):
        monkeypatch.delenv(var, raising=False)
    get_shared_settings.cache_clear()
    yield request.param
    get_shared_settings.cache_clear()


def _dlq_constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(names).items()
        if name.endswith("_DLQ_TOPIC") and not name.startswith("LEGACY_")
    }


def test_every_dead_letter_topic_is_classified() -> None:
    assert set(_dlq_constants()) == set(CARRIES_RAW) | set(CARRIES_NO_RAW)


@pytest.mark.parametrize("constant", sorted(CARRIES_RAW))
def test_dead_letter_topics_of_raw_input_live_under_raw(constant: str) -> None:
    topic = _dlq_constants()[constant]
    assert topic.startswith(names.RAW_TOPIC_PREFIX), topic
    # under raw., but never taken for a source's topic: the sanitizer would read its own dead letters
    assert not re.fullmatch(raw_topic_pattern(), topic), topic


def test_no_dead_letter_topic_is_under_sanitized() -> None:
    assert [t for t in _dlq_constants().values() if t.startswith(names.SANITIZED_TOPIC_PREFIX)] == []


def test_every_service_that_reads_raw_input_dead_letters_under_raw(namespace: str) -> None:
    """From the services' own defaults: which read unsanitized input and keep it in their dead
    letters, and where those go, inside the namespace."""
    raw_prefix = names.namespaced(names.RAW_TOPIC_PREFIX, namespace)
    sanitized_prefix = names.namespaced(names.SANITIZED_TOPIC_PREFIX, namespace)
    collector, sanitizer = CollectorSettings(), SanitizerSettings()
    writer, evaluator = WriterSettings(), EvaluatorSettings()

    # the collector reads the sources themselves; the sanitizer consumes the raw topics
    assert re.fullmatch(sanitizer.input_pattern, raw_topic("crm", namespace))
    raw_readers: dict[str, CollectorSettings | SanitizerSettings] = {
        "collector": collector,
        "sanitizer": sanitizer,
    }
    for service, settings in raw_readers.items():
        assert settings.dlq_keep_value, service  # by default the dead letter holds the raw input
        assert settings.dlq_topic.startswith(raw_prefix), (service, settings.dlq_topic)
        assert not re.fullmatch(sanitizer.input_pattern, settings.dlq_topic), (service, settings.dlq_topic)

    # the others read what is already sanitized, so their dead letters hold nothing more
    assert writer.topic.startswith(sanitized_prefix)
    assert not evaluator.events_topic.startswith(raw_prefix)
    assert not collector.dlq_topic.startswith(sanitized_prefix)
    assert not sanitizer.dlq_topic.startswith(sanitized_prefix)
    assert not evaluator.dlq_topic.startswith(sanitized_prefix)


def test_the_sanitizer_refuses_a_sanitized_dead_letter_topic_that_keeps_values(namespace: str) -> None:
    with pytest.raises(ValueError, match="dead letters hold raw input"):
        SanitizerSettings(dlq_topic=names.LEGACY_SANITIZER_DLQ_TOPIC)
    # without the value a dead letter holds only the reason, key and coordinates
    kept_out = SanitizerSettings(dlq_topic=names.LEGACY_SANITIZER_DLQ_TOPIC, dlq_keep_value=False)
    assert kept_out.dlq_topic == names.namespaced("sanitized.dlq", namespace)


@pytest.mark.parametrize(
    "overrides",
    [{"dlq_topic": "raw.rejects"}, {"dlq_topic": "raw.crm", "input_topics": ("raw.crm",)}],
    ids=["matches-the-pattern", "listed-input"],
)
def test_the_sanitizer_refuses_a_dead_letter_topic_it_would_consume(
    namespace: str, overrides: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="read its own dead letters"):
        SanitizerSettings(**overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["dlq", "dlq.sanitizer", "dlq.anything"])
def test_no_source_can_publish_to_a_dead_letter_topic(source: str) -> None:
    with pytest.raises(ValueError, match="invalid source name"):
        raw_topic(source)
