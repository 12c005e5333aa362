from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import SERVICES, app

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def test_schemas_export_writes_files_and_prints_their_paths(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    printed = {Path(line).name for line in result.stdout.splitlines()}
    assert "RawRecord.schema.json" in printed
    schema = json.loads((tmp_path / "out" / "TrainingEvent.schema.json").read_text())
    assert schema["discriminator"]["propertyName"] == "type"


def test_every_service_has_a_run_command() -> None:
    for name in SERVICES:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "run" in result.stdout, name


def test_unbuilt_service_says_so_and_fails() -> None:
    result = runner.invoke(app, ["collector", "run"])
    assert result.exit_code == 2


# What README, examples/demo, scripts and the Makefile call: the names users know stay as they were.
KNOWN_COMMANDS = [
    ["collector", "run"], ["sanitizer", "run"], ["writer", "run"], ["writer", "init-tables"],
    ["trainer", "run"], ["evaluator", "run"], ["sanitize"], ["lineage"], ["evaluate"], ["drift"],
    ["canary", "plant"], ["canary", "purge-legacy"], ["schemas", "export"], ["models", "prepare"],
    ["dev", "up"], ["dev", "down"], ["dev", "status"], ["dev", "install"], ["dev", "images"],
]  # fmt: skip


def test_every_known_command_answers_help() -> None:
    for command in KNOWN_COMMANDS:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_services_with_a_yaml_file_take_config_and_the_writer_does_not() -> None:
    for name in ("collector", "sanitizer", "trainer", "evaluator"):
        result = runner.invoke(app, [name, "run", "--help"])
        assert "--config" in result.stdout, name
    result = runner.invoke(app, ["writer", "run", "--config", "x.yaml"])
    assert result.exit_code == 2 and "No such option" in result.output


_IMPORT_CLI = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("name", ["collector", "sanitizer", "writer", "trainer", "evaluator"])
def test_a_service_cli_loads_only_that_service_and_no_heavy_library(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_CLI, f"services.{name}.cli"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    services = {m.split(".")[1] for m in loaded if m.startswith("services.")}
    assert services == {name}, services
    heavy = {"faust", "torch", "transformers", "ray", "spacy", "presidio_analyzer", "boto3"}
    heavy |= {"confluent_kafka"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_the_whole_command_loads_no_service_code_until_a_command_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_CLI, "services.cli"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    code = {m for m in loaded if m.startswith("services.") and m.count(".") > 1}  # beyond the packages
    assert code == {f"services.{name}.cli" for name in SERVICES}
    assert "libs.common.aws" not in loaded and "pydantic_settings" not in loaded


def test_main_turns_malformed_settings_into_exit_2_without_a_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNELINE_WRITER_BATCH_MAX_RECORDS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "writer", "init-tables"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "batch_max_records" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_whose_library_is_not_installed_names_the_extra() -> None:
    blocked = "import sys; sys.modules['presidio_analyzer'] = None; "  # as if tuneline[sanitizer] were absent
    code = blocked + "sys.argv = ['tuneline', 'sanitizer', 'run']; from services.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT), "TUNELINE_SANITIZER_DEV_MODE": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "presidio_analyzer" in result.stderr and "pip install 'tuneline[sanitizer]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_of_a_service_points_at_an_extra_that_exists() -> None:
    import tomllib

    from services.cli import EXTRA_OF

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    offline = {"sanitize": "sanitizer", "lineage": "trainer", "evaluate": "evaluator", "canary": "evaluator"}
    assert offline.items() <= EXTRA_OF.items()
    assert set(EXTRA_OF.values()) <= set(extras)
