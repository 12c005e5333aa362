from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.training_data.split import eval_score, is_eval

REPO = Path(__file__).resolve().parents[3]
IDS = [f"helpdesk:{i:06d}" for i in range(20_000)]


def test_score_is_the_same_in_another_process() -> None:
    # Python's hash() is salted per process; a split built on it would move records between runs.
    sample = IDS[:50] + ["", "ünïcode:ü", "a" * 512]
    code = (
        "import sys, json\n"
        "from libs.training_data.split import eval_score\n"
        "print(json.dumps([eval_score(i) for i in json.loads(sys.stdin.read())]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PYTHONHASHSEED": "random"},
    )
    assert json.loads(out.stdout) == [eval_score(i) for i in sample]


def test_score_is_the_same_on_every_call() -> None:
    assert [eval_score(i) for i in IDS[:100]] == [eval_score(i) for i in IDS[:100]]


@given(st.text(max_size=300))
def test_score_is_in_the_unit_interval(record_id: str) -> None:
    assert 0.0 <= eval_score(record_id) < 1.0


def test_scores_spread_over_the_interval() -> None:
    scores = [eval_score(i) for i in IDS]
    assert len(set(scores)) == len(scores)
    deciles = [0] * 10
    for score in scores:
        deciles[int(score * 10)] += 1
    assert all(1_700 < n < 2_300 for n in deciles), deciles


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_held_out_share_is_close_to_the_fraction(fraction: float) -> None:
    held_out = sum(is_eval(i, fraction) for i in IDS) / len(IDS)
    # 20k draws: the binomial standard deviation is at most 0.0035; allow about four of them.
    assert abs(held_out - fraction) < 0.015


def test_growing_the_fraction_only_moves_records_from_train_to_eval() -> None:
    fractions = [0.05, 0.1, 0.2, 0.3]
    sides = [{i for i in IDS if is_eval(i, f)} for f in fractions]
    for smaller, larger in zip(sides, sides[1:], strict=False):
        assert smaller < larger  # strictly grows, and nothing held out before returns to train


def test_a_record_stays_on_its_side_between_runs() -> None:
    first = [is_eval(i, 0.1) for i in IDS]
    again = [is_eval(i, 0.1) for i in reversed(IDS)][::-1]
    assert first == again


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_the_open_unit_interval_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="eval_fraction"):
        is_eval("helpdesk:1", fraction)
