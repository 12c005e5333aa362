"""With no production model yet, the evaluator compares against the base model the manifest names: the
embedded default's alias resolves to its cached folder (libs.models), like in the trainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import services.evaluator.worker as worker
from libs.models import EMBEDDED_MODEL
from services.evaluator.adapters.evaluate import ModelRef
from services.evaluator.core.config import EvaluatorConfig
from tests.unit.model_folder.test_manifest import model


class NoProduction:
    def production(self, dataset: str) -> None:
        return None


class Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("base_model", "kind", "expected"),
    [
        (EMBEDDED_MODEL, "embedded", "/cache/models/smollm2-135m-instruct"),
        ("HuggingFaceTB/SmolLM2-360M-Instruct", "hub", "HuggingFaceTB/SmolLM2-360M-Instruct"),
    ],
)
def test_the_reference_is_the_resolved_base_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_model: str, kind: str, expected: str
) -> None:
    manifest = model(base_model=base_model, base_model_kind=kind, finetune="lora")
    (tmp_path / "manifest.json").write_text(manifest.model_dump_json())
    row = {"id": "helpdesk:0001", "source": "helpdesk", "dataset": "support", "prompt": "q", "response": "a"}
    (tmp_path / manifest.eval_file).write_text(json.dumps(row) + "\n")
    resolved: list[str] = []

    def resolve(name: str) -> str:
        resolved.append(name)
        return "/cache/models/smollm2-135m-instruct" if name == EMBEDDED_MODEL else name

    seen: dict[str, ModelRef] = {}

    def evaluate_candidate(**kwargs: Any) -> None:
        seen["reference"] = kwargs["production"]
        raise Stop

    monkeypatch.setattr(worker, "resolve_base_model", resolve)
    monkeypatch.setattr(worker, "evaluate_candidate", evaluate_candidate)
    with pytest.raises(Stop):
        worker.evaluate_run(
            manifest.run_id, "support", str(tmp_path), NoProduction(),  # type: ignore[arg-type]
            EvaluatorConfig(), tmp_path / "work", canaries=[],
        )  # fmt: skip
    assert resolved == [base_model]
    assert seen["reference"].path == Path(expected)
    assert base_model in seen["reference"].label
