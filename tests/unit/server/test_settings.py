from __future__ import annotations

import pytest

from services.server.settings import ServerSettings


def test_each_server_process_has_a_consumer_group_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process must read every promotion: two on one host in one group would split the events."""
    monkeypatch.delenv("TUNELINE_SERVER_GROUP_ID", raising=False)
    assert ServerSettings().group_id != ServerSettings().group_id


def test_the_namespace_prefixes_the_topic_and_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from libs.common.settings import get_shared_settings

    monkeypatch.setenv("TUNELINE_NAMESPACE", "team-a")
    get_shared_settings.cache_clear()
    try:
        settings = ServerSettings()
        assert settings.events_topic == "team-a.training.events"
        assert settings.group_id.startswith("team-a.tuneline-server.")
    finally:
        monkeypatch.delenv("TUNELINE_NAMESPACE")
        get_shared_settings.cache_clear()


def test_limits_come_from_the_settings_and_the_default_length_never_exceeds_the_maximum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUNELINE_SERVER_MAX_TOKENS", "64")
    monkeypatch.setenv("TUNELINE_SERVER_DATASETS", '["support", "wiki"]')
    settings = ServerSettings()
    assert settings.limits.max_tokens == 64 and settings.limits.default_max_tokens == 64
    assert settings.datasets == ["support", "wiki"]
    assert (settings.http_port, settings.batching, settings.log_prompts) == (8085, "auto", False)
