"""The trainer's shipped YAML parses, every dataset in it resolves, and each is one the sanitizer feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.models import EMBEDDED_MODEL
from services.sanitizer.core.policy import load_policy
from services.trainer.core.config import TrainerConfig, TrainingConfig, load_config

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
TRAINER_YAML = CONFIG_DIR / "trainer.yaml"
SANITIZER_YAML = CONFIG_DIR / "sanitizer.yaml"


@pytest.fixture(scope="module")
def shipped() -> TrainerConfig:
    return load_config(TRAINER_YAML)


def routed_datasets() -> set[str]:
    """Every dataset the sanitizer routes records to: its default and each source's."""
    routing = load_policy(SANITIZER_YAML).datasets
    return {d for d in (routing.default, *routing.sources.values()) if d is not None}


def test_the_shipped_trainer_config_lists_datasets(shipped: TrainerConfig) -> None:
    assert shipped.datasets


def test_every_shipped_dataset_resolves_to_a_training_config(shipped: TrainerConfig) -> None:
    for policy in shipped.datasets:
        resolved = shipped.training_for(policy.name)
        assert isinstance(resolved, TrainingConfig), policy.name
        assert shipped.policy(policy.name) == policy


def test_every_shipped_dataset_is_one_the_sanitizer_routes_records_to(shipped: TrainerConfig) -> None:
    routed = routed_datasets()
    unknown = sorted(p.name for p in shipped.datasets if p.name not in routed)
    assert not unknown, f"config/trainer.yaml trains datasets no source feeds: {unknown} (routed: {routed})"


def test_the_shipped_defaults_fine_tune_the_embedded_pretrained_model(shipped: TrainerConfig) -> None:
    assert shipped.defaults.base_model == EMBEDDED_MODEL and shipped.defaults.finetune == "lora"
    assert shipped.defaults == TrainingConfig()  # the YAML spells out the code's defaults, no surprises
