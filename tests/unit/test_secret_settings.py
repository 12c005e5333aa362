"""Secret settings: errors never echo one, and each can come from a mounted file (``*_FILE``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from libs.common.kafka import client_config
from libs.common.settings import SharedSettings
from services.collector.settings import CollectorSettings
from services.evaluator.settings import EvaluatorSettings
from services.sanitizer.settings import SanitizerSettings
from services.server.settings import ServerSettings
from services.trainer.settings import TrainerSettings
from services.writer.settings import WriterSettings

SETTINGS: list[type[BaseSettings]] = [
    SharedSettings,
    CollectorSettings,
    SanitizerSettings,
    WriterSettings,
    TrainerSettings,
    EvaluatorSettings,
    ServerSettings,
]
SECRET = "s3cr3t-value-that-must-never-be-printed"


def test_every_service_settings_class_is_checked() -> None:
    services = {path.parent.name for path in Path(__file__).parents[2].glob("services/*/settings.py")}
    assert services == {
        cls.__module__.split(".")[1] for cls in SETTINGS if cls.__module__.startswith("services.")
    }


def _secret_fields(cls: type[BaseSettings]) -> list[str]:
    return [
        name
        for name, f in cls.model_fields.items()
        if SecretStr in (f.annotation, *getattr(f.annotation, "__args__", ()))
    ]


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_every_secret_setting_has_a_file_variant_and_errors_hide_their_input(cls: type[BaseSettings]) -> None:
    secrets = _secret_fields(cls)
    missing = [name for name in secrets if f"{name}_file" not in cls.model_fields]
    assert not missing, f"secret settings without a *_file variant: {missing}"
    if secrets:
        assert cls.model_config.get("hide_input_in_errors") is True


@pytest.mark.parametrize(
    "env",
    [
        {"TUNELINE_SANITIZER_PSEUDONYM_KEY": SECRET[:20]},  # too short
        {"TUNELINE_SANITIZER_PSEUDONYM_KEY": SECRET * 2, "TUNELINE_SANITIZER_ENCRYPTION_KEY": SECRET},
        {"TUNELINE_SANITIZER_PSEUDONYM_KEY": SECRET * 2, "TUNELINE_SANITIZER_PSEUDONYM_KEY_ID": "no spaces"},
    ],
)
def test_a_sanitizer_settings_error_never_echoes_a_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        SanitizerSettings()
    assert SECRET[:20] not in str(raised.value)


def test_the_sanitizer_keys_can_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pseudonym").write_text(SECRET + "\n")
    (tmp_path / "aes").write_text("k" * 32 + "\n")
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE", str(tmp_path / "pseudonym"))
    monkeypatch.setenv("TUNELINE_SANITIZER_ENCRYPTION_KEY_FILE", str(tmp_path / "aes"))
    settings = SanitizerSettings()
    assert settings.pseudonym_key.get_secret_value() == SECRET
    assert settings.encryption_key is not None and settings.encryption_key.get_secret_value() == "k" * 32


def test_a_key_file_is_checked_like_the_variable_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "pseudonym").write_text("short-" + SECRET[:10])
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE", str(tmp_path / "pseudonym"))
    with pytest.raises(ValidationError, match="at least 32 bytes") as raised:
        SanitizerSettings()
    assert SECRET[:10] not in str(raised.value)


def test_a_key_and_its_file_together_or_a_missing_file_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(
        ValidationError, match=f"cannot read TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE {tmp_path}"
    ):
        SanitizerSettings()
    (tmp_path / "present").write_text(SECRET)
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE", str(tmp_path / "present"))
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY", SECRET)
    with pytest.raises(ValidationError, match="TUNELINE_SANITIZER_PSEUDONYM_KEY_FILE, not both") as raised:
        SanitizerSettings()
    assert SECRET not in str(raised.value)


def test_the_kafka_tls_key_password_can_come_from_a_file(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-")
    (tmp_path / "key-password").write_text(SECRET + "\n")
    shared = SharedSettings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=tmp_path / "ca.pem",
        kafka_ssl_cert_file=tmp_path / "cert.pem",
        kafka_ssl_key_file=tmp_path / "key.pem",
        kafka_ssl_key_password_file=tmp_path / "key-password",
    )
    assert client_config(shared)["ssl.key.password"] == SECRET
