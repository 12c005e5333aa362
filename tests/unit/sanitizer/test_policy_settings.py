from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.sanitizer.core.errors import PolicyError
from services.sanitizer.core.policy import FieldAction, Operator, SanitizerPolicy, load_policy
from services.sanitizer.settings import PLACEHOLDER_KEY, SanitizerSettings

SHIPPED = Path(__file__).parents[3] / "config" / "sanitizer.yaml"


def test_shipped_policy_parses() -> None:
    policy = load_policy(SHIPPED)
    assert policy.datasets.dataset_for("crm") == "crm"
    assert policy.datasets.dataset_for("unknown-source") == "general"
    assert policy.anonymize.operator_for("EMAIL") is Operator.PSEUDONYM
    assert policy.anonymize.operator_for("PRIVATE_KEY") is Operator.REDACT
    assert policy.field_policy("crm", "ssn").action is FieldAction.DROP
    name = policy.field_policy("crm", "customer_name")
    assert name.action is FieldAction.REPLACE and name.entity == "PERSON"
    assert policy.field_policy("crm", "order_id").action is FieldAction.KEEP  # '*' explicit list
    assert policy.field_policy("crm", "notes").action is FieldAction.SCAN
    assert policy.field_rule("crm", "notes") is None  # no rule: inherits its parent's


@pytest.mark.parametrize("path", ["user_id", "account_id", "customer_id", "items.user_id"])
def test_shipped_policy_scans_ids_not_known_to_be_safe(path: str) -> None:
    # "*_id: keep" used to keep national_id, tax_id and a user_id holding an email verbatim
    assert load_policy(SHIPPED).field_policy("support", path).action is FieldAction.SCAN


@pytest.mark.parametrize(
    ("path", "entity"),
    [("national_id", "NATIONAL_ID"), ("tax_id", "NATIONAL_ID"), ("ssn_num", "US_SSN"), ("a.ssn", "US_SSN")],
)
def test_shipped_policy_replaces_national_identifiers_by_name(path: str, entity: str) -> None:
    rule = load_policy(SHIPPED).field_policy("support", path)
    assert rule.action is FieldAction.REPLACE and rule.entity == entity
    assert load_policy(SHIPPED).field_policy("crm", "ssn").action is FieldAction.DROP  # source first


def test_invalid_policy_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dedup:\n  near:\n    threshold: 3\n")
    with pytest.raises(PolicyError, match=r"dedup\.near\.threshold"):
        load_policy(bad)
    bad.write_text("anonymize: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_datasets_null_default_drops_unlisted_sources() -> None:
    policy = SanitizerPolicy.model_validate({"datasets": {"default": None, "sources": {"a": "x"}}})
    assert policy.datasets.dataset_for("b") is None


def test_placeholder_key_refused_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNELINE_SANITIZER_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ValidationError, match="PSEUDONYM_KEY"):
        SanitizerSettings(dev_mode=False)
    with pytest.raises(ValidationError, match="PSEUDONYM_KEY"):
        SanitizerSettings(pseudonym_key=SecretStr("short"))
    assert SanitizerSettings(dev_mode=True).pseudonym_key.get_secret_value() == PLACEHOLDER_KEY
    real = SanitizerSettings(pseudonym_key=SecretStr("x" * 40))
    assert "x" * 40 not in repr(real)


def test_encryption_key_size(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEY"):
        SanitizerSettings(dev_mode=True, encryption_key=SecretStr("123"))
    assert SanitizerSettings(dev_mode=True, encryption_key=SecretStr("k" * 32)).encryption_key is not None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELINE_SANITIZER_PSEUDONYM_KEY", "e" * 32)
    monkeypatch.setenv("TUNELINE_SANITIZER_STORE", "memory://")
    settings = SanitizerSettings()
    assert settings.store == "memory://" and settings.http_port == 8082
