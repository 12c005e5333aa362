from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

import pytest
from pydantic import ValidationError

from libs.model_folder.manifest import DataManifest, ModelManifest, ids_digest
from services.trainer.core.config import TrainingConfig

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
IDS = [f"helpdesk:{i:04x}" for i in range(500)]


def test_digest_does_not_depend_on_order() -> None:
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    assert ids_digest(shuffled) == ids_digest(IDS) == ids_digest(reversed(IDS))


def test_digest_changes_when_one_id_changes_is_added_or_removed() -> None:
    base = ids_digest(IDS)
    assert ids_digest([*IDS[:-1], "helpdesk:other"]) != base
    assert ids_digest([*IDS, "helpdesk:new"]) != base
    assert ids_digest(IDS[1:]) != base


def test_digest_is_sha256_of_the_sorted_newline_terminated_ids() -> None:
    expected = hashlib.sha256("".join(f"{i}\n" for i in sorted(["b", "a", "c"])).encode()).hexdigest()
    assert ids_digest(["c", "a", "b"]) == f"sha256:{expected}"


def test_digest_separates_ids_unambiguously() -> None:
    assert ids_digest(["ab", "c"]) != ids_digest(["a", "bc"])
    with pytest.raises(ValueError, match="newline"):
        ids_digest(["a\nb"])


def data(**changes: Any) -> DataManifest:
    fields: dict[str, Any] = {
        "dataset": "support",
        "watermark": NOW,
        "record_count": 500,
        "train_records": 445,
        "eval_records": 50,
        "skipped_records": 5,
        "train_blocks": 90,
        "eval_blocks": 10,
        "tokens": 12_900,
        "ids_digest": ids_digest(IDS),
        "eval_fraction": 0.1,
    }
    return DataManifest(**(fields | changes))


def model(**changes: Any) -> ModelManifest:
    fields: dict[str, Any] = {
        "run_id": "support-20261125T120000-0a1b2c3d",
        "dataset": "support",
        "base_model": "tuneline/tiny-llama",
        "base_model_kind": "tiny-built",
        "created_at": NOW,
        "data": data(),
        "training": TrainingConfig().model_dump(mode="json"),
        "metrics": {"eval_loss": 2.5, "perplexity": 12.18},
        "code_version": "0.1.0",
        "finetune": "full",
    }
    return ModelManifest(**(fields | changes))


def test_model_manifest_round_trips_through_json() -> None:
    manifest = model()
    again = ModelManifest.model_validate_json(manifest.model_dump_json())
    assert again == manifest
    assert again.data.watermark == NOW
    assert TrainingConfig.model_validate(again.training) == TrainingConfig()


def test_an_embedded_base_model_is_named_by_its_alias() -> None:
    manifest = model(base_model="tuneline/smollm2-135m-instruct", base_model_kind="embedded", finetune="lora")
    assert ModelManifest.model_validate_json(manifest.model_dump_json()).base_model_kind == "embedded"


def test_manifests_are_frozen() -> None:
    manifest = model()
    with pytest.raises(ValidationError):
        manifest.run_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [
        {"watermark": dt.datetime(2026, 11, 25, 12, 0)},  # naive: ambiguous instant
        {"train_records": 446},  # counts no longer add up
        {"ids_digest": "md5:abc"},
        {"eval_fraction": 1.0},
        {"tokens": -1},
        {"surprise": 1},
    ],
)
def test_bad_data_manifests_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        data(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"base_model_kind": "s3"},
        {"format": "bin"},
        {"finetune": "qlora"},
        {"metrics": {"eval_loss": float("nan")}},  # JSON has no NaN: it would not round-trip
        {"data": data(dataset="billing")},
        {"run_id": "has spaces"},
    ],
)
def test_bad_model_manifests_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model(**changes)
