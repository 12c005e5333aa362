"""`tuneline sanitizer run --config FILE` takes the policy from FILE, like the other services' --config."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from libs.common.settings import get_shared_settings
from services.cli import app
from services.sanitizer.settings import get_settings

ROOT = Path(__file__).parents[3]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")
    monkeypatch.setenv("TUNELINE_SANITIZER_CONFIG_FILE", "/nonexistent/default-policy.yaml")
    monkeypatch.setenv("TUNELINE_KAFKA_BOOTSTRAP", "127.0.0.1:9")  # nothing listens: start-up stops there
    monkeypatch.setenv("TUNELINE_KAFKA_WAIT_S", "0.5")
    get_settings.cache_clear()
    get_shared_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the service configures logging: put it back
    yield CliRunner()
    root.handlers[:], root.level = handlers, level
    get_settings.cache_clear()
    get_shared_settings.cache_clear()


def test_a_missing_config_file_is_named(run: CliRunner, tmp_path: Path) -> None:
    result = run.invoke(app, ["sanitizer", "run", "--config", str(tmp_path / "policy.yaml")])
    assert result.exit_code == 2
    assert f"cannot read policy file {tmp_path / 'policy.yaml'}" in result.stderr, result.stderr


def test_the_given_file_replaces_the_settings_policy(run: CliRunner, tmp_path: Path) -> None:
    policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
    policy["names"]["enabled"] = False  # no spaCy model to load in a unit test
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run.invoke(app, ["sanitizer", "run", "--config", str(path)])
    # the policy loaded (the settings' file does not exist); the worker then waited for Kafka
    assert result.exit_code == 2
    assert "Kafka did not answer" in result.stderr, result.stderr
    assert "cannot read policy file" not in result.stderr


def test_the_old_env_name_still_works_and_is_reported(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNELINE_SANITIZER_CONFIG_FILE")
    monkeypatch.setenv("TUNELINE_SANITIZER_POLICIES_FILE", str(tmp_path / "old-name.yaml"))
    result = run.invoke(app, ["sanitizer", "run"])
    assert result.exit_code == 2
    assert f"cannot read policy file {tmp_path / 'old-name.yaml'}" in result.stderr, result.stderr
    warning = "TUNELINE_SANITIZER_POLICIES_FILE is deprecated: set TUNELINE_SANITIZER_CONFIG_FILE instead"
    assert warning in result.stderr, result.stderr


def test_a_tokenizer_that_cannot_load_stops_the_worker_at_start(run: CliRunner, tmp_path: Path) -> None:
    policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
    policy["names"]["enabled"] = False
    policy["features"]["tokenizer"] = str(tmp_path / "no-such-model")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = run.invoke(app, ["sanitizer", "run", "--config", str(path)])
    assert result.exit_code == 2
    assert "no tokenizer.json" in result.stderr, result.stderr
    assert "Kafka did not answer" not in result.stderr  # before waiting for the broker
