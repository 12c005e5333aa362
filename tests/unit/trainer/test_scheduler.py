from __future__ import annotations

import datetime as dt

import pytest

from services.trainer.core.config import DatasetPolicy
from services.trainer.core.scheduler import CounterState, decide

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
POLICY = DatasetPolicy(name="support", threshold_records=1000, cooldown_s=3600)
LONG_AGO = NOW - dt.timedelta(days=1)


def counter(records: int, last: dt.datetime | None = LONG_AGO) -> CounterState:
    return CounterState(records_since_training=records, last_training_at=last)


def test_reaching_the_threshold_exactly_starts_a_run() -> None:
    decision = decide(POLICY, counter(1000), active_run=False, now=NOW)
    assert decision.start
    assert "threshold reached" in decision.why


def test_one_record_below_the_threshold_does_not() -> None:
    decision = decide(POLICY, counter(999), active_run=False, now=NOW)
    assert not decision.start
    assert "below threshold" in decision.why


def test_a_dataset_never_trained_starts_without_cooldown() -> None:
    assert decide(POLICY, counter(5000, last=None), active_run=False, now=NOW).start


def test_cooldown_holds_a_run_back_and_names_when_it_ends() -> None:
    last = NOW - dt.timedelta(seconds=3599)
    decision = decide(POLICY, counter(5000, last=last), active_run=False, now=NOW)
    assert not decision.start
    assert decision.why.startswith("cooling down until")
    assert (last + dt.timedelta(seconds=3600)).isoformat() in decision.why


def test_a_run_starts_when_the_cooldown_has_exactly_elapsed() -> None:
    last = NOW - dt.timedelta(seconds=3600)
    assert decide(POLICY, counter(5000, last=last), active_run=False, now=NOW).start


def test_an_active_run_blocks_another() -> None:
    decision = decide(POLICY, counter(5000), active_run=True, now=NOW)
    assert not decision.start
    assert decision.why == "run active"


def test_schedule_off_never_starts_a_run() -> None:
    policy = POLICY.model_copy(update={"schedule": False})
    decision = decide(policy, counter(10**9, last=None), active_run=False, now=NOW)
    assert not decision.start
    assert decision.why == "schedule off"


def test_zero_cooldown_allows_back_to_back_runs() -> None:
    policy = POLICY.model_copy(update={"cooldown_s": 0.0})
    assert decide(policy, counter(1000, last=NOW), active_run=False, now=NOW).start


@pytest.mark.parametrize("records", [0, 1, 999])
def test_below_threshold_wins_over_cooldown(records: int) -> None:
    decision = decide(POLICY, counter(records, last=NOW), active_run=False, now=NOW)
    assert not decision.start
    assert "below threshold" in decision.why
