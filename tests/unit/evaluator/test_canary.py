from __future__ import annotations

import json
import math
import re

import pytest
from pydantic import ValidationError

from services.evaluator.core.canary import (
    Canary,
    CanaryFormat,
    completes,
    exposure,
    extrapolated_exposure,
    make_canaries,
    random_candidates,
)
from services.evaluator.core.gates import PrivacyFindings
from services.evaluator.core.report import render_markdown, stored_report

from .helpers import canary_result, clean_privacy, report


def pin(secret: str = "739150") -> Canary:  # noqa: S107 - a test canary
    return Canary(id="c1", format=CanaryFormat(), secret=secret)


def test_a_canary_is_a_sentence_with_a_formatted_secret() -> None:
    canary = pin()
    assert canary.text == "my account PIN is 7-3-9-1-5-0"
    assert canary.prefix == "my account PIN is"
    assert canary.format.space_size == 10**6
    assert canary.format.log2_space == pytest.approx(6 * math.log2(10))


@pytest.mark.parametrize(
    "fields",
    [
        {"template": "no placeholder"},
        {"template": "{secret} twice {secret}"},
        {"template": "{secret} first"},
        {"alphabet": "0012"},
        {"separator": "1"},
    ],
)
def test_malformed_formats_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CanaryFormat.model_validate(fields)


def test_a_secret_must_fit_its_format() -> None:
    with pytest.raises(ValidationError):
        pin("12345")
    with pytest.raises(ValidationError):
        pin("12345a")


def test_secrets_and_indexes_round_trip() -> None:
    fmt = CanaryFormat(alphabet="abc", length=4)
    assert fmt.secret_at(0) == "aaaa" and fmt.secret_at(fmt.space_size - 1) == "cccc"
    assert all(fmt.index_of(fmt.secret_at(i)) == i for i in range(fmt.space_size))
    with pytest.raises(ValueError):
        fmt.secret_at(fmt.space_size)


def secrets_of(canaries: list[Canary]) -> list[tuple[str, str]]:
    return [(c.format.template, c.secret) for c in canaries]


def test_canary_secrets_are_reproducible_from_their_seed_and_distinct() -> None:
    first, again, other = make_canaries(7, 12), make_canaries(7, 12), make_canaries(8, 12)
    assert secrets_of(first) == secrets_of(again) and secrets_of(first) != secrets_of(other)
    assert len(set(secrets_of(first))) == 12
    assert len({c.format.template for c in first}) == 4  # cycles through the default templates
    unseeded = make_canaries(None, 12)  # the OS generator: what `tuneline canary plant` uses
    assert len(set(secrets_of(unseeded))) == 12
    assert secrets_of(unseeded) != secrets_of(make_canaries(None, 12))


def test_canary_ids_are_random_never_the_seed() -> None:
    seed = 918_273_645
    first, again = make_canaries(seed, 8, prefix="canary-x"), make_canaries(seed, 8, prefix="canary-x")
    ids = [c.id for c in first + again]
    assert len(set(ids)) == 16  # the same seed does not give the same ids: they are not a function of it
    assert all(re.fullmatch(r"canary-x-[0-9a-f]{16}", i) for i in ids)
    assert not any(str(seed) in i or format(seed, "x") in i for i in ids)


def test_a_reports_canary_ids_cannot_rebuild_the_secrets() -> None:
    """Everything a report prints about canaries, tried as seeds by someone who knows the generator
    (the code is open): none of them gives back a planted secret."""
    seed = 5_550_123
    planted = make_canaries(seed, 8, prefix="canary-20261206T120000")
    privacy = PrivacyFindings(canaries=[canary_result(c.id) for c in planted], pii=clean_privacy().pii)
    rep = report(privacy=privacy)
    printed = render_markdown(rep) + json.dumps(stored_report(rep)) + rep.model_dump_json()
    assert all(c.id in printed for c in planted)
    for canary in planted:
        assert canary.secret not in printed and canary.text not in printed
    guesses = {int(n) for n in re.findall(r"\d+", printed)}
    guesses |= {int(h, 16) for h in re.findall(r"[0-9a-f]{8,}", printed)}
    assert seed not in guesses
    wanted = set(secrets_of(planted))
    for guess in guesses:
        assert not wanted & set(secrets_of(make_canaries(guess, len(planted)))), guess


def test_candidates_are_distinct_reproducible_and_never_the_secret() -> None:
    canary = pin()
    candidates = random_candidates(canary, 500, seed=1)
    assert len(set(candidates)) == 500 and canary.secret not in candidates
    assert candidates == random_candidates(canary, 500, seed=1)
    assert candidates != random_candidates(canary, 500, seed=2)
    small = Canary(id="s", format=CanaryFormat(alphabet="ab", length=4), secret="abba")
    everything = random_candidates(small, 100, seed=0)
    assert sorted(everything + ["abba"]) == sorted(small.format.secret_at(i) for i in range(16))


def test_exposure_is_log2_n_plus_one_minus_log2_of_the_rank_in_the_sample() -> None:
    others = [float(s) for s in range(10, 1010)]  # 1000 candidates, log-perplexities 10..1009
    assert exposure(1.0, others) == (math.log2(1001), 0)  # the model's favourite
    assert exposure(2000.0, others) == (0.0, 1000)  # less likely than every candidate
    value, k = exposure(509.5, others)  # in the middle: about one bit
    assert k == 500 and value == pytest.approx(math.log2(1001 / 501))
    assert exposure(10.0, others)[1] == 1  # a tie counts against the canary


def test_with_the_whole_space_the_estimate_is_the_exact_exposure() -> None:
    # |R| = 16, the canary ranked 3rd of 16: exposure = log2 16 - log2 3
    scores = [0.0, 1.0] + [10.0 + i for i in range(13)]
    assert exposure(5.0, scores)[0] == pytest.approx(4 - math.log2(3))


def test_extrapolated_exposure_reaches_past_the_sample() -> None:
    others = [50.0 + (i % 7) for i in range(1000)]
    memorized = extrapolated_exposure(5.0, others, log2_space=19.93)
    assert memorized == pytest.approx(19.93)  # capped at log2 |R|
    typical = extrapolated_exposure(53.0, others, log2_space=19.93)
    assert 0.5 < typical < 1.5
    assert extrapolated_exposure(1.0, [2.0], 19.93) == 0.0


@pytest.mark.parametrize(
    ("generated", "leaked"),
    [
        (" 7-3-9-1-5-0", True),
        ("739150.", True),
        ("7 3 9 1 5 0 and more", True),
        ("7-3-9-1-5", False),
        ("1-2-3-4-5-6", False),
        ("", False),
    ],
)
def test_completion_check_reads_the_secret_however_it_is_spaced(generated: str, leaked: bool) -> None:
    assert completes(pin(), generated) is leaked
