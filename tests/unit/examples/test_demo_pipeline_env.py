from __future__ import annotations

import pytest

from examples.demo.pipeline import inherited_env


def test_demo_services_do_not_inherit_the_shells_tuneline_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")  # another cluster's settings
    monkeypatch.setenv("TUNELINE_TABLE_PREFIX", "prod-")
    monkeypatch.setenv("TUNELINE_CACHE_DIR", "/cache")
    monkeypatch.setenv("PATH", "/usr/bin")
    env = inherited_env()
    assert "TUNELINE_KAFKA_SECURITY_PROTOCOL" not in env and "TUNELINE_TABLE_PREFIX" not in env
    assert env["TUNELINE_CACHE_DIR"] == "/cache" and env["PATH"] == "/usr/bin"
