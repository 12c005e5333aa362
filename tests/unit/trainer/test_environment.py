"""The training job's environment: the trainer's, less every secret and every Kafka setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.common.settings import SharedSettings
from services.trainer.core.environment import job_environment


def test_secrets_go_and_what_the_job_needs_stays() -> None:
    environ = {
        "TUNELINE_ADMIN_TOKEN": "t",
        "TUNELINE_TRAINER_ADMIN_TOKEN_FILE": "/run/secrets/t",
        "TUNELINE_SANITIZER_PSEUDONYM_KEY": "k",
        "TUNELINE_SANITIZER_ENCRYPTION_KEY_FILE": "/run/secrets/aes",
        "TUNELINE_KAFKA_SASL_PASSWORD": "p",
        "TUNELINE_KAFKA_BOOTSTRAP": "kafka:9092",
        "TUNELINE_SOME_FUTURE_API_SECRET": "s",
        "TUNELINE_TABLE_PREFIX": "prod-",
        "TUNELINE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
        "TUNELINE_MODEL_STORE": "s3://models/prefix",
        "TUNELINE_TRAINER_WORK_DIR": "/work",
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "PATH": "/usr/bin",
        "HF_HOME": "/cache",
    }
    env = job_environment(environ, {"PYTHONUNBUFFERED": "1"})
    assert env == {
        "TUNELINE_TABLE_PREFIX": "prod-",
        "TUNELINE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
        "TUNELINE_MODEL_STORE": "s3://models/prefix",
        "TUNELINE_TRAINER_WORK_DIR": "/work",
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "PATH": "/usr/bin",
        "HF_HOME": "/cache",
        "PYTHONUNBUFFERED": "1",
    }


def test_the_job_settings_still_validate_under_a_secured_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ca", "cert", "key", "password"):
        (tmp_path / name).write_text("-")
    trainer = {
        "TUNELINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TUNELINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TUNELINE_KAFKA_SASL_USERNAME": "trainer",
        "TUNELINE_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "password"),
        "TUNELINE_KAFKA_SSL_CA_FILE": str(tmp_path / "ca"),
        "TUNELINE_KAFKA_SSL_CERT_FILE": str(tmp_path / "cert"),
        "TUNELINE_KAFKA_SSL_KEY_FILE": str(tmp_path / "key"),
        "TUNELINE_TABLE_PREFIX": "prod-",
    }
    for name, value in trainer.items():
        monkeypatch.setenv(name, value)
    assert SharedSettings().kafka_security_protocol == "SASL_SSL"
    env = job_environment(trainer)
    assert env == {"TUNELINE_TABLE_PREFIX": "prod-"}  # no half of a TLS or SASL configuration
    for name in set(trainer) - set(env):
        monkeypatch.delenv(name)
    assert SharedSettings().table_prefix == "prod-"
