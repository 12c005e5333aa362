from __future__ import annotations

import datetime as dt
import re

import pytest
from pydantic import TypeAdapter

from libs.schemas.events import RunId
from services.trainer.core.runs import ACTIVE, FINISHED, TRANSITIONS, RunState, can_move, new_run_id

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
RUN_ID = TypeAdapter(RunId)


def test_every_state_is_either_active_or_finished() -> None:
    assert ACTIVE | FINISHED == set(RunState)
    assert not ACTIVE & FINISHED
    assert set(TRANSITIONS) == set(RunState)


@pytest.mark.parametrize("state", sorted(FINISHED))
def test_a_finished_run_never_moves_again(state: RunState) -> None:
    assert state.finished
    assert TRANSITIONS[state] == frozenset()
    assert not any(can_move(state, target) for target in RunState)


@pytest.mark.parametrize("state", sorted(ACTIVE))
def test_an_active_run_can_fail_or_be_cancelled(state: RunState) -> None:
    assert not state.finished
    assert can_move(state, RunState.FAILED)
    assert can_move(state, RunState.CANCELLED)
    assert not can_move(state, state)
    assert not can_move(state, RunState.QUEUED)


def test_only_a_running_run_succeeds() -> None:
    assert can_move(RunState.QUEUED, RunState.RUNNING)
    assert can_move(RunState.RUNNING, RunState.SUCCEEDED)
    assert not can_move(RunState.QUEUED, RunState.SUCCEEDED)
    assert not can_move(RunState.RUNNING, RunState.RUNNING)


def test_every_state_can_reach_a_finished_one() -> None:
    for state in RunState:
        seen, frontier = {state}, [state]
        while frontier:
            for target in TRANSITIONS[frontier.pop()] - seen:
                seen.add(target)
                frontier.append(target)
        assert seen & FINISHED, state


@pytest.mark.parametrize("dataset", ["support", "a", "logs.v2_prod-eu", "x" * 128])
def test_run_ids_are_valid_run_ids(dataset: str) -> None:
    run_id = new_run_id(dataset, NOW)
    assert RUN_ID.validate_python(run_id) == run_id
    assert run_id.startswith(dataset[:80])


def test_run_ids_are_unique_for_the_same_instant() -> None:
    assert len({new_run_id("support", NOW) for _ in range(1000)}) == 1000


def test_run_ids_sort_by_creation_time() -> None:
    times = [NOW + dt.timedelta(seconds=s) for s in (0, 1, 59, 3600, 86_400 * 40, 86_400 * 400)]
    ids = [new_run_id("support", t) for t in times]
    shuffled = [ids[i] for i in (3, 0, 5, 1, 4, 2)]
    assert sorted(shuffled) == ids


def test_run_ids_use_utc_whatever_the_zone_of_now() -> None:
    paris = NOW.astimezone(dt.timezone(dt.timedelta(hours=1)))
    stamp = re.compile(r"-(\d{8}T\d{6})-")
    first, second = stamp.search(new_run_id("support", NOW)), stamp.search(new_run_id("support", paris))
    assert first is not None and second is not None
    assert first.group(1) == second.group(1)
