"""Every service names its YAML file the same way: ``config_file`` (a Path), env
``TUNELINE_<SERVICE>_CONFIG_FILE``; the names used before still work, so deployments keep running."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from libs.common.deprecations import renamed_env
from services.collector.settings import CollectorSettings
from services.evaluator.settings import EvaluatorSettings
from services.sanitizer import settings as sanitizer
from services.sanitizer.settings import SanitizerSettings
from services.trainer import settings as trainer
from services.trainer.settings import TrainerSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "COLLECTOR": CollectorSettings,
    "SANITIZER": SanitizerSettings,
    "TRAINER": TrainerSettings,
    "EVALUATOR": EvaluatorSettings,
}
# the old name each service still reads, from the table its start-up warning uses
DEPRECATED = {
    "SANITIZER": next(old for old, new in sanitizer.RENAMED_ENV.items() if new.endswith("_CONFIG_FILE")),
    "TRAINER": next(old for old, new in trainer.RENAMED_ENV.items() if new.endswith("_CONFIG_FILE")),
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in SETTINGS:
        monkeypatch.delenv(f"TUNELINE_{service}_CONFIG_FILE", raising=False)
    for name in DEPRECATED.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TUNELINE_SANITIZER_DEV_MODE", "true")


@pytest.mark.parametrize("service", SETTINGS)
def test_config_file_is_a_path_set_by_one_env_name(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert isinstance(SETTINGS[service]().config_file, Path)  # type: ignore[attr-defined]
    monkeypatch.setenv(f"TUNELINE_{service}_CONFIG_FILE", str(tmp_path / "x.yaml"))
    assert SETTINGS[service]().config_file == tmp_path / "x.yaml"  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", DEPRECATED)
def test_the_old_env_name_still_works_and_the_new_one_wins(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DEPRECATED[service], str(tmp_path / "old.yaml"))
    assert SETTINGS[service]().config_file == tmp_path / "old.yaml"  # type: ignore[attr-defined]
    monkeypatch.setenv(f"TUNELINE_{service}_CONFIG_FILE", str(tmp_path / "new.yaml"))
    assert SETTINGS[service]().config_file == tmp_path / "new.yaml"  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", DEPRECATED)
def test_config_file_can_be_given_by_name(service: str, tmp_path: Path) -> None:
    settings = SETTINGS[service](config_file=tmp_path / "given.yaml")
    assert settings.config_file == tmp_path / "given.yaml"  # type: ignore[attr-defined]


def test_an_old_name_in_the_environment_is_reported_with_its_replacement() -> None:
    renamed = {"TUNELINE_TRAINER_CONFIG": "TUNELINE_TRAINER_CONFIG_FILE"}
    assert renamed_env(renamed, {"TUNELINE_TRAINER_CONFIG_FILE": "x"}) == []
    assert renamed_env(renamed, {"tuneline_trainer_config": "x"}) == [
        "TUNELINE_TRAINER_CONFIG is deprecated: set TUNELINE_TRAINER_CONFIG_FILE instead"
    ]
    (both,) = renamed_env(renamed, {"TUNELINE_TRAINER_CONFIG": "x", "TUNELINE_TRAINER_CONFIG_FILE": "y"})
    assert both.endswith("(both are set: TUNELINE_TRAINER_CONFIG_FILE wins)")
