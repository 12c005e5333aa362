"""`tuneline dev up / status / down` from the command line, as a developer runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.devstack.servers import free_port

pytestmark = pytest.mark.integration


def _tuneline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_up_is_idempotent_and_down_stops_everything(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TUNELINE_DEV_STATE_DIR": str(tmp_path / "stack"),
        "TUNELINE_DEV_KAFKA_PORT": str(free_port()),
        "TUNELINE_DEV_KAFKA_CONTROLLER_PORT": str(free_port()),
        "TUNELINE_DEV_DYNAMODB_PORT": str(free_port()),
    }
    try:
        first = _tuneline(env, "dev", "up")
        assert first.returncode == 0, first.stderr
        lines = first.stdout.splitlines()
        assert f"TUNELINE_KAFKA_BOOTSTRAP=127.0.0.1:{env['TUNELINE_DEV_KAFKA_PORT']}" in lines
        assert f"TUNELINE_DYNAMODB_ENDPOINT=http://127.0.0.1:{env['TUNELINE_DEV_DYNAMODB_PORT']}" in lines

        # what it prints is all a service needs: no AWS variables of our own, the writer's tables made
        bare = {k: v for k, v in env.items() if not k.startswith("AWS_")} | {
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        script = f'set -a; eval "$({sys.executable} -m services.cli dev up)"; set +a; '
        script += f"{sys.executable} -m services.cli writer init-tables"
        tables = subprocess.run(
            ["/bin/bash", "-c", script], env=bare, capture_output=True, text=True, timeout=180, check=False
        )
        assert tables.returncode == 0 and "created: " in tables.stderr, tables.stderr
        assert any(line.startswith("AWS_ACCESS_KEY_ID=") for line in lines)

        second = _tuneline(env, "dev", "up")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert second.stdout == first.stdout

        status = _tuneline(env, "dev", "status")
        assert status.returncode == 0 and status.stdout.count("answering") == 2, status.stdout
    finally:
        down = _tuneline(env, "dev", "down")
    assert down.returncode == 0 and "kafka" in down.stderr and "dynamodb" in down.stderr
    after = _tuneline(env, "dev", "status")
    assert after.returncode == 3 and after.stdout.count("stopped") == 2, after.stdout
