from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from libs.cli import SERVICES, app

runner = CliRunner()


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
