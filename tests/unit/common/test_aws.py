"""A service without AWS credentials stops with one line that says what to set, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.common.aws import AwsCredentialsMissing, dynamodb_client, s3_client
from libs.common.settings import SharedSettings

ROOT = Path(__file__).parents[3]


def _no_credentials(tmp_path: Path) -> dict[str, str]:
    """An environment where boto3's chain finds nothing (and never asks an instance metadata service)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TUNELINE_"))}
    return {
        **env,
        "HOME": str(tmp_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in _no_credentials(tmp_path).items():
        if name.startswith("AWS_") or name == "HOME":
            monkeypatch.setenv(name, value)


def test_missing_credentials_raise_a_clear_error(no_credentials: None) -> None:
    shared = SharedSettings(dynamodb_endpoint="http://127.0.0.1:8000")
    with pytest.raises(AwsCredentialsMissing, match="AWS_ACCESS_KEY_ID") as caught:
        dynamodb_client(shared)
    assert "tuneline dev up" in str(caught.value) and "127.0.0.1:8000" in str(caught.value)
    with pytest.raises(AwsCredentialsMissing, match=r"AWS \(eu-west-1\).*AWS_PROFILE"):
        dynamodb_client(SharedSettings(aws_region="eu-west-1"))


def test_credentials_from_the_environment_build_a_client(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tuneline")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tuneline")
    shared = SharedSettings(dynamodb_endpoint="http://127.0.0.1:8000", aws_region="eu-west-1")
    client = dynamodb_client(shared)
    assert client.meta.endpoint_url == "http://127.0.0.1:8000"
    assert client.meta.region_name == "eu-west-1"


def test_clients_retry_in_standard_mode_with_bounded_timeouts(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tuneline")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tuneline")
    shared = SharedSettings(
        dynamodb_endpoint="http://127.0.0.1:8000",
        s3_endpoint="http://127.0.0.1:9000",
        dynamodb_max_attempts=3,
        dynamodb_read_timeout_s=7.0,
    )
    for client in (dynamodb_client(shared, max_pool_connections=20), s3_client(shared)):
        config = client.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert config.read_timeout == 7.0 and config.connect_timeout == 5.0
    assert dynamodb_client(shared, max_pool_connections=20).meta.config.max_pool_connections == 20
    assert s3_client(shared).meta.endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "command",
    [["-m", "services.writer"], ["-m", "services.cli", "writer", "init-tables"]],
    ids=["writer service", "cli"],
)
def test_the_writer_without_credentials_fails_with_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {
        **_no_credentials(tmp_path),
        "PYTHONPATH": str(ROOT),
        "TUNELINE_DYNAMODB_ENDPOINT": "http://127.0.0.1:9",  # never reached: it stops before
        "TUNELINE_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert "no AWS credentials" in output and "AWS_ACCESS_KEY_ID" in output
