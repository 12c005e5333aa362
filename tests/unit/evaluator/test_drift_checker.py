"""The drift checker's orchestration with in-memory stand-ins (the model measurement replaced): when it
checks, what it stores, what it asks the admin API, and the scheduler's isolation of failures."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, cast

import pytest

from libs.model_folder.manifest import DataManifest, ModelManifest
from libs.registry import DriftCheck, ModelRegistry, Production
from services.evaluator import drift as drift_module
from services.evaluator.adapters.drift_io import AdminClient, FreshRecords
from services.evaluator.core.config import DriftConfig, EvaluatorConfig
from services.evaluator.core.drift import TrainingRequestOutcome
from services.evaluator.core.examples import EvalExample
from services.evaluator.core.metrics import ExampleLoss, ModelMetrics, summarize
from services.evaluator.drift import DriftChecker, DriftScheduler

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
WATERMARK = NOW - dt.timedelta(days=1)


def metrics(**sources: float) -> ModelMetrics:
    items = [
        ExampleLoss(f"{s}-{i}", s, "support", loss * 10, 10, 5, 40)
        for s, loss in sources.items()
        for i in range(30)
    ]
    return summarize("tok", items)


class Registry:
    def __init__(self, model_uri: str) -> None:
        self.prod: Production | None = Production("support", "support-1", model_uri, WATERMARK, "evaluator",
                                                  "promote", "", None, [])  # fmt: skip
        self.stored: DriftCheck | None = None
        self.report = {"candidate": {"metrics": metrics(helpdesk=2.0, wiki=2.0).model_dump(mode="json")}}

    def production(self, dataset: str) -> Production | None:
        return self.prod

    def production_all(self) -> dict[str, str]:
        return {"support": "support-1", "broken": "broken-1"}

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        return {"report": self.report}

    def drift(self, dataset: str) -> DriftCheck | None:
        return self.stored

    def put_drift(self, dataset: str, run_id: str, checked_at: dt.datetime, records_total: int,
                  report: dict[str, Any], report_dir: str, entry: dict[str, Any]) -> None:  # fmt: skip
        history = [*(self.stored.history if self.stored else []), entry]
        self.stored = DriftCheck(dataset, run_id, checked_at, records_total, report, report_dir, history)


class Counters:
    def __init__(self) -> None:
        self.values = {"records_total": 1000, "records_since_training": 300}

    def get(self, dataset: str) -> dict[str, int]:
        return dict(self.values)


class Fresh:
    def __init__(self) -> None:
        self.windows: list[tuple[int, int]] = []
        self.examples_to_return = [EvalExample(f"r{i}", "wiki", "support", text="x y z") for i in range(3)]

    def examples(self, dataset: str, after_ms: int, until_ms: int, *_: Any) -> list[EvalExample]:
        self.windows.append((after_ms, until_ms))
        return self.examples_to_return


class Admin:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def request_drift_run(self, dataset: str, key: str) -> TrainingRequestOutcome:
        status = "requested" if not self.keys else "replayed"
        self.keys.append(key)
        return TrainingRequestOutcome(status=status, idempotency_key=key, run_id="support-2")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    data = DataManifest(
        dataset="support", watermark=WATERMARK, record_count=1, train_records=1, eval_records=0,
        train_blocks=1, eval_blocks=0, tokens=1, ids_digest="sha256:" + "0" * 64, eval_fraction=0.1,
    )  # fmt: skip
    manifest = ModelManifest(
        run_id="support-1", dataset="support", base_model="b", base_model_kind="hub", created_at=WATERMARK,
        data=data, training={}, code_version="t", finetune="full",
    )  # fmt: skip
    (tmp_path / "manifest.json").write_text(manifest.model_dump_json())
    return tmp_path


def checker(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, current: ModelMetrics
) -> tuple[DriftChecker, Registry, Fresh, Admin, Counters]:
    def measure(_dir: Path, _examples: Any, _config: Any) -> ModelMetrics:
        return current

    monkeypatch.setattr(drift_module, "measure", measure)
    registry, fresh, admin, counters = Registry(str(model_dir)), Fresh(), Admin(), Counters()
    config = EvaluatorConfig(drift=DriftConfig(min_new_records=100, min_records_per_source=10, margin=0.15))
    made = DriftChecker(cast(ModelRegistry, registry), counters, cast(FreshRecords, fresh),
                        cast(AdminClient, admin), config, model_dir / "work", clock=lambda: NOW)  # fmt: skip
    return made, registry, fresh, admin, counters


def test_a_drifted_source_asks_once_per_window_and_the_report_is_stored(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, registry, fresh, admin, counters = checker(
        model_dir, monkeypatch, metrics(helpdesk=2.0, wiki=2.0 + math.log(2))
    )
    report = made.check("support")
    assert report is not None and report.drifted and report.drove == ["wiki"]
    assert report.training.status == "requested" and report.training.run_id == "support-2"
    assert fresh.windows == [
        (int(WATERMARK.timestamp() * 1000), int((NOW - dt.timedelta(seconds=5)).timestamp() * 1000))
    ]
    assert registry.stored is not None and registry.stored.records_total == 1000
    assert registry.stored.report_dir == f"{model_dir}/drift"
    assert (model_dir / "drift" / "drift.md").read_text().count("wiki") >= 2
    assert (model_dir / "drift" / "charts" / "drift.png").read_bytes().startswith(b"\x89PNG")

    assert made.check("support") is None  # nothing new since that check
    counters.values["records_total"] = 1100
    again = made.check("support")
    assert again is not None and again.training.status == "replayed"
    assert len(set(admin.keys)) == 1 and len(admin.keys) == 2
    assert registry.stored is not None and len(registry.stored.history) == 2


def test_no_drift_asks_nothing_and_no_records_measures_nothing(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, registry, fresh, admin, _ = checker(model_dir, monkeypatch, metrics(helpdesk=2.0, wiki=2.05))
    report = made.check("support")
    assert report is not None and not report.drifted and report.training.status == "not_needed"
    assert admin.keys == []
    fresh.examples_to_return = []
    empty = made.check("support", force=True)
    assert empty is not None and empty.records == 0 and empty.summary == "no fresh records yet"
    assert empty.sources == [] and empty.overall is None


def test_no_production_model_is_not_checked(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made, registry, *_ = checker(model_dir, monkeypatch, metrics(wiki=2.0))
    registry.prod = None
    assert made.check("support", force=True) is None and registry.stored is None


def test_the_scheduler_keeps_going_past_a_failing_dataset(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made, registry, *_ = checker(model_dir, monkeypatch, metrics(helpdesk=2.0, wiki=9.0))
    real = made.check

    def check(dataset: str, force: bool = False) -> Any:
        if dataset == "broken":
            raise RuntimeError("boom")
        return real(dataset, force)

    monkeypatch.setattr(made, "check", check)
    reports = DriftScheduler(made).check_all()
    assert [r.dataset for r in reports] == ["support"]
