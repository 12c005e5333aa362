"""What `tuneline dev up` prints besides the two addresses: enough for every service to use the stack."""

from __future__ import annotations

import shlex
import stat
import subprocess
from pathlib import Path

from libs.common.auth import load_admin_token
from libs.devstack.settings import DevStackSettings
from libs.devstack.stack import DevStack


def _stack(tmp_path: Path) -> DevStack:
    return DevStack(DevStackSettings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "stack"))


def test_service_env_has_dummy_credentials_region_and_dev_settings(tmp_path: Path) -> None:
    env = _stack(tmp_path).service_env()
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["TUNELINE_AWS_REGION"] == "us-east-1"
    assert env["TUNELINE_SANITIZER_DEV_MODE"] == "true"
    token_file = Path(env["TUNELINE_ADMIN_TOKEN_FILE"])
    assert token_file.parent == tmp_path / "stack"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # the admin API accepts it as it is (not a placeholder), without the insecure dev flag
    token = load_admin_token(None, token_file, insecure_dev=False)
    assert token is not None and len(token) >= 32


def test_the_admin_token_is_made_once(tmp_path: Path) -> None:
    first = _stack(tmp_path).service_env()["TUNELINE_ADMIN_TOKEN_FILE"]
    token = Path(first).read_text()
    again = _stack(tmp_path).service_env()["TUNELINE_ADMIN_TOKEN_FILE"]
    assert again == first and Path(again).read_text() == token


def test_the_lines_survive_a_shell_eval(tmp_path: Path) -> None:
    stack = DevStack(
        DevStackSettings(cache_dir=tmp_path / "cache", state_dir=tmp_path / "with space" / "stack")
    )
    env = stack.service_env()
    printed = "\n".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    shown = subprocess.run(
        ["/bin/bash", "-c", 'set -a; eval "$LINES"; set +a; env'],
        env={"LINES": printed, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name, value in env.items():
        assert f"{name}={value}" in shown
