from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.models import EMBEDDED_MODEL
from services.trainer.core.config import (
    TINY_MODEL,
    DatasetPolicy,
    TrainerConfig,
    TrainingConfig,
    deep_merge,
    load_config,
)
from services.trainer.core.errors import ConfigError, TrainerError, UnknownDataset


def trainer(**support_training: Any) -> TrainerConfig:
    return TrainerConfig(
        datasets=[DatasetPolicy(name="support", training=support_training), DatasetPolicy(name="logs")]
    )


def test_defaults_are_valid_and_fine_tune_the_embedded_pretrained_model() -> None:
    config = TrainerConfig()
    assert config.defaults == TrainingConfig()
    assert config.defaults.base_model == EMBEDDED_MODEL
    assert 0 < config.defaults.eval_fraction < 1


def test_the_tiny_model_is_asked_for_by_name() -> None:
    assert TrainingConfig(base_model=TINY_MODEL).base_model == TINY_MODEL


def test_deep_merge_keeps_siblings_and_does_not_touch_its_inputs() -> None:
    base = {"a": 1, "nested": {"x": 1, "y": 2}}
    merged = deep_merge(base, {"nested": {"y": 3}, "b": 2})
    assert merged == {"a": 1, "b": 2, "nested": {"x": 1, "y": 3}}
    assert base == {"a": 1, "nested": {"x": 1, "y": 2}}


def test_dataset_training_then_request_overrides_are_merged_deeply() -> None:
    config = trainer(learning_rate=5e-4, deepspeed={"zero_stage": 3}, scaling={"workers": 4})
    run = config.training_for(
        "support", {"deepspeed": {"offload_optimizer": True}, "scaling": {"workers": 1}}
    )
    assert run.learning_rate == 5e-4  # from the dataset
    assert run.deepspeed.zero_stage == 3  # from the dataset, next to the request's sibling
    assert run.deepspeed.offload_optimizer is True  # from the request
    assert run.scaling.workers == 1  # the request wins over the dataset
    assert run.seq_len == TrainingConfig().seq_len  # untouched default


def test_a_dataset_without_overrides_trains_with_the_defaults() -> None:
    assert trainer().training_for("logs") == TrainingConfig()
    assert trainer().training_for("logs", {}) == TrainingConfig()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"learning_rate": -1}, "learning_rate"),
        ({"deepspeed": {"zero_stage": 5}}, "deepspeed.zero_stage"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"scaling": {"gpus": 2}}, "scaling.gpus"),
        ({"eval_fraction": 1.0}, "eval_fraction"),
        ({"tiny": {"hidden_size": 130, "heads": 4}}, "tiny"),
    ],
)
def test_bad_request_overrides_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match="overrides") as caught:
        trainer().training_for("support", overrides)
    assert field in str(caught.value)


def test_overrides_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        trainer().training_for("support", ["learning_rate"])  # type: ignore[arg-type]


def test_a_bad_dataset_override_fails_at_load_naming_the_dataset_and_field() -> None:
    with pytest.raises(ValueError, match=r"datasets\[support\]\.training.*learning_rate"):
        trainer(learning_rate=2)


def test_duplicate_dataset_names_are_refused() -> None:
    with pytest.raises(ValueError, match="configured twice.*support"):
        TrainerConfig(datasets=[DatasetPolicy(name="support"), DatasetPolicy(name="support")])


def test_an_unknown_dataset_is_its_own_error() -> None:
    with pytest.raises(UnknownDataset, match="billing"):
        trainer().training_for("billing")
    with pytest.raises(UnknownDataset):
        trainer().policy("billing")
    assert issubclass(UnknownDataset, TrainerError)


def test_load_config_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "trainer.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"seq_len": 64, "scaling": {"workers": 1}},
                "datasets": [
                    {"name": "support", "threshold_records": 10, "cooldown_s": 0, "training": {"epochs": 2}},
                    {"name": "logs", "schedule": False},
                ],
            }
        )
    )
    config = load_config(path)
    assert config.policy("support").threshold_records == 10
    assert config.policy("logs").schedule is False
    run = config.training_for("support")
    assert (run.seq_len, run.epochs, run.scaling.workers) == (64, 2.0, 1)


def test_an_empty_yaml_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "trainer.yaml"
    path.write_text("")
    assert load_config(path) == TrainerConfig()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("defaults: {seq_len: 4}", "seq_len"),
        ("datasets: [{name: support, threshold_records: 0}]", "threshold_records"),
        ("datasets: [{name: 'bad name!'}]", "name"),
        ("defaults: [unclosed", "not valid YAML"),
    ],
)
def test_load_config_errors_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "trainer.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_snapshot_selection_by_feature_defaults_to_everything_and_merges_like_any_setting() -> None:
    from libs.schemas import Structure

    assert not TrainingConfig().select.active
    config = trainer(select={"structures": ["qa"], "languages": ["en"]})
    support = config.training_for("support")
    assert support.select.structures == [Structure.QA] and support.select.languages == ["en"]
    assert support.model_dump(mode="json")["select"]["structures"] == ["qa"]  # stored with the run
    request = config.training_for("support", {"select": {"min_quality": 0.9}})
    assert request.select.min_quality == 0.9 and request.select.structures == [Structure.QA]
    assert not config.training_for("logs").select.active
    with pytest.raises(ConfigError):
        config.training_for("support", {"select": {"structures": ["tweets"]}})
    with pytest.raises(ConfigError):
        config.training_for("support", {"select": {"lang": ["en"]}})  # a typo is not ignored


def test_a_requested_base_model_must_be_on_the_allow_list() -> None:
    config = TrainerConfig.model_validate(
        {
            "base_models": ["Qwen/Qwen2.5-0.5B", "/srv/models/llama"],
            "datasets": [{"name": "support"}, {"name": "docs", "training": {"base_model": TINY_MODEL}}],
        }
    )
    assert (
        config.training_for("support", {"base_model": "Qwen/Qwen2.5-0.5B"}).base_model == "Qwen/Qwen2.5-0.5B"
    )
    assert (
        config.training_for("support", {"base_model": "/srv/models/llama"}).base_model == "/srv/models/llama"
    )
    # the models the config itself names are allowed too
    assert config.training_for("support", {"base_model": EMBEDDED_MODEL}).base_model == EMBEDDED_MODEL
    assert config.training_for("support", {"base_model": TINY_MODEL}).base_model == TINY_MODEL
    for path in ["/etc", "/srv/models/llama/../../../root/.cache", "someone/unvetted-model"]:
        with pytest.raises(ConfigError, match=r"overrides: base_model .* is not allowed.*base_models"):
            config.training_for("support", {"base_model": path})


def test_without_an_allow_list_a_request_can_only_name_the_configured_models() -> None:
    config = TrainerConfig.model_validate({"datasets": [{"name": "support"}]})
    assert config.training_for("support", {"base_model": EMBEDDED_MODEL}).base_model == EMBEDDED_MODEL
    with pytest.raises(ConfigError, match="not allowed"):
        config.training_for("support", {"base_model": "/home"})
