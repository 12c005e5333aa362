from __future__ import annotations

import pytest

from services.sanitizer import metrics


def test_rate_meter_publishes_records_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("services.sanitizer.metrics.time.monotonic", lambda: now[0])
    meter = metrics.RateMeter(window_s=10.0)
    meter.add(30)
    now[0] = 110.0
    meter.add(20)
    assert metrics.THROUGHPUT._value.get() == pytest.approx(5.0)


def test_stage_latency_is_observed() -> None:
    before = metrics.STAGE_SECONDS.labels("unit-stage")._sum.get()
    metrics.observe_stage("unit-stage", 0.25, 3)
    assert metrics.STAGE_SECONDS.labels("unit-stage")._sum.get() == pytest.approx(before + 0.25)
