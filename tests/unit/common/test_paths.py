"""Default paths do not depend on the working directory: the shipped YAML files are found from the
installed code, and what services write goes under one per-user folder, never into the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.common.paths import INSTALL_ROOT, config_path, tuneline_home
from services.evaluator.core.config import load_config

ROOT = Path(__file__).parents[3]

_PRINT_DEFAULTS = """
import json
from services.collector.settings import CollectorSettings
from services.evaluator.core.config import load_config
from services.evaluator.settings import EvaluatorSettings
from services.sanitizer.settings import SanitizerSettings
from services.trainer.settings import TrainerSettings

collector, sanitizer = CollectorSettings(), SanitizerSettings()
trainer, evaluator = TrainerSettings(), EvaluatorSettings()
print(json.dumps({
    "configs": [str(collector.config_file), str(sanitizer.config_file), str(trainer.config_file),
                str(evaluator.config_file), load_config(evaluator.config_file).pii_scan.policy_file],
    "written": [sanitizer.datadir, trainer.model_store, str(trainer.work_dir), evaluator.model_store,
                str(evaluator.work_dir)],
}))
"""


def _defaults_from(cwd: Path, **env: str) -> dict[str, list[str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TUNELINE_", "XDG_"))}
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_DEFAULTS],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), "TUNELINE_SANITIZER_DEV_MODE": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, list[str]] = json.loads(result.stdout)
    return parsed


def test_services_started_elsewhere_read_the_shipped_configs_and_write_under_home(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "user"
    defaults = _defaults_from(elsewhere, HOME=str(home))

    assert [Path(p).name for p in defaults["configs"]] == [
        "sources.yaml",
        "sanitizer.yaml",
        "trainer.yaml",
        "evaluator.yaml",
        "sanitizer.yaml",  # the evaluator's PII scan uses the sanitizer's policy, found beside its YAML
    ]
    for path in map(Path, defaults["configs"]):
        assert path.is_absolute() and path.is_file(), path
        assert path.parent == ROOT / "config"
    share = home / ".local" / "share" / "tuneline"
    for path in map(Path, defaults["written"]):
        assert path.is_absolute() and path.is_relative_to(share), path
    assert list(elsewhere.iterdir()) == []  # reading settings wrote nothing


def test_one_setting_moves_everything_services_write(tmp_path: Path) -> None:
    defaults = _defaults_from(tmp_path, TUNELINE_HOME=str(tmp_path / "state"))
    assert all(Path(p).is_relative_to(tmp_path / "state") for p in defaults["written"])
    # models are shared by the trainer (writes) and the evaluator (reads): one folder
    assert defaults["written"][1] == defaults["written"][3] == str(tmp_path / "state" / "models")
    xdg = _defaults_from(tmp_path, XDG_DATA_HOME=str(tmp_path / "xdg"))
    assert all(Path(p).is_relative_to(tmp_path / "xdg" / "tuneline") for p in xdg["written"])


def test_home_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("TUNELINE_HOME", "~/tl")
    assert tuneline_home() == Path.home() / "tl"
    monkeypatch.setenv("TUNELINE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tuneline_home() == tmp_path / ".local" / "share" / "tuneline"


def test_the_shipped_config_folder_is_the_installed_codes() -> None:
    assert INSTALL_ROOT == ROOT
    assert config_path("sanitizer.yaml") == ROOT / "config" / "sanitizer.yaml"


def test_a_relative_policy_file_in_the_evaluator_yaml_is_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "evaluator.yaml").write_text("pii_scan:\n  policy_file: policies/sanitizer.yaml\n")
    config = load_config(tmp_path / "evaluator.yaml")
    assert config.pii_scan.policy_file == str(tmp_path / "policies" / "sanitizer.yaml")
    (tmp_path / "absolute.yaml").write_text("pii_scan:\n  policy_file: /etc/tuneline/sanitizer.yaml\n")
    assert load_config(tmp_path / "absolute.yaml").pii_scan.policy_file == "/etc/tuneline/sanitizer.yaml"
