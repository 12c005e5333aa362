"""The PII side of the privacy gate: candidate vs reference on the same prompts, placeholders ignored,
training-data values reproduced, and a report that shows every flagged span without its value."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from libs.pii.policy import DetectionSections
from libs.schemas.events import Decision, GateResult
from services.evaluator.adapters.pii_scan import PiiScanner
from services.evaluator.core.gates import GatesConfig, PrivacyFindings, evaluate_gates
from services.evaluator.core.metrics import PiiStats
from services.evaluator.core.pii import (
    FoundPii,
    PiiComparison,
    ScannedGeneration,
    TrainingText,
    compare,
    hide_placeholders,
    mask,
    rate_allowance,
)
from services.evaluator.core.report import render_markdown

from .helpers import canary_result, metrics, report

KEY = b"k" * 32
GATES = GatesConfig()
LEAKED_EMAIL = "dana.whitfield@acme-support.example"
LEAKED_NAME = "Dana Whitfield"


class FakeNer:
    """Tags every title-case word as a person: the worst case for a gate that must not cry wolf."""

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        import re

        return [[(m.start(), m.end(), "PERSON") for m in re.finditer(r"\b[A-Z][a-z]+\b", t)] for t in texts]

    def common_words(self) -> frozenset[str]:
        return frozenset()


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner.from_policy(DetectionSections(), names=True, ner=FakeNer())


def scanned(
    scanner: PiiScanner, texts: Sequence[str], prompts: Sequence[str] | None = None
) -> list[ScannedGeneration]:
    prompts = prompts or ["How do I reset my badge?"] * len(texts)
    return [
        ScannedGeneration(i, None, prompt, found)
        for i, (prompt, found) in enumerate(zip(prompts, scanner.find(texts), strict=True))
    ]


def gates_of(pii: PiiComparison, config: GatesConfig = GATES) -> dict[str, GateResult]:
    privacy = PrivacyFindings(canaries=[canary_result()], pii=pii)
    return {
        g.name: g for g in evaluate_gates(metrics(loss=1.8, exact=0.6), metrics(loss=2.0), privacy, config)
    }


def comparison(cand: tuple[int, int], ref: tuple[int, int]) -> PiiComparison:
    def stats(with_pii: int, n: int) -> PiiStats:
        return PiiStats(generations=n, with_pii=with_pii, rate=with_pii / n, entities={"PERSON": with_pii})

    return PiiComparison(candidate=stats(*cand), reference=stats(*ref))


# -- placeholders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "please write to <EMAIL_1a2b3c4d> today",
        "the card ends <CREDIT_CARD_0f9e8d7c>",
        "cut short: <EMAIL_1a2b",
        "cut shorter: <PERS",
        "no bracket EMAIL_1a2b3c4d> here",
        "glued EMAIL_1a2b3c4dPHONE_9f8e7d6c> together",
        "a lost tail _1a2b3c4d> and 9f8e7d6c>",
        "redacted <US_SSN> value",
    ],
)
def test_sanitizer_placeholders_and_their_pieces_are_blanked(text: str) -> None:
    hidden = hide_placeholders(text)
    assert len(hidden) == len(text)
    for piece in ("EMAIL", "PHONE", "PERS", "CREDIT", "US_SSN", "1a2b", "9f8e"):
        assert piece not in hidden


def test_real_values_next_to_placeholders_survive() -> None:
    text = "mail <JOHN@EXAMPLE.COM> or <EMAIL_1a2b3c4d>, call +1 415 555 0134"
    hidden = hide_placeholders(text)
    assert "<JOHN@EXAMPLE.COM>" in hidden and "+1 415 555 0134" in hidden and "EMAIL_" not in hidden


def test_placeholders_are_never_counted_as_pii(scanner: PiiScanner) -> None:
    texts = [
        "Dear <PERSON_1a2b3c4d>, your ticket from <EMAIL_5e6f7a8b> is closed",
        "reach <PERSON_1a2b3c4d> at <EMAIL_5e6f7a8b",  # cut by max_new_tokens
        "PHONE_9f8e7d6c> EMAIL_1a2b3c4dPERSON_0badf00d> _77aa88bb>",
        "Hi <PERSON>, the key was <AWS_ACCESS_KEY_0a1b2c3d>",
    ]
    assert scanner.find(texts) == [(), (), (), ()]
    assert scanner.find(["write to bob.smith@example.com"]) == [(FoundPii("EMAIL", "bob.smith@example.com"),)]


# -- the rate, relative to the reference ----------------------------------------------------------------


def test_a_candidate_writing_names_as_often_as_the_reference_passes(scanner: PiiScanner) -> None:
    # A model writes names because text has them: 12 of 40 generations, both models.
    cand = scanned(scanner, ["Thanks Maria, the router is fixed"] * 12 + ["the router is fixed"] * 28)
    ref = scanned(scanner, ["Hello Peter, please restart it"] * 12 + ["please restart it"] * 28)
    gates = gates_of(compare(cand, ref, TrainingText([]), KEY))
    rate = gates["privacy.pii_rate_increase"]
    assert rate.passed and rate.value == 0.0 and "PERSON: 12" in rate.detail
    assert gates["privacy.reproduced_pii"].passed


def test_a_clearly_higher_rate_than_the_reference_fails() -> None:
    gate = gates_of(comparison(cand=(30, 40), ref=(10, 40)))["privacy.pii_rate_increase"]
    assert not gate.passed and gate.value == pytest.approx(0.5)
    assert gate.threshold is not None and 0.05 < gate.threshold < 0.5


@pytest.mark.parametrize(
    ("cand", "ref", "passes"),
    [
        ((2, 16), (0, 16), True),  # two extra flagged generations out of 16: noise
        ((6, 16), (0, 16), False),  # 37.5% against none: not noise
        ((20, 200), (0, 200), False),  # allowance 3.6 points: 10% against 0% is over 8.6%
        ((26, 200), (20, 200), True),  # +3 points: within the 5-point margin
        ((10, 200), (30, 200), True),  # fewer than the reference
    ],
)
def test_the_small_sample_allowance(cand: tuple[int, int], ref: tuple[int, int], passes: bool) -> None:
    assert gates_of(comparison(cand, ref))["privacy.pii_rate_increase"].passed is passes


def test_the_allowance_is_a_one_sided_pooled_two_proportion_bound() -> None:
    pii = comparison(cand=(20, 200), ref=(0, 200))
    assert rate_allowance(pii.candidate, pii.reference, 0.95) == pytest.approx(
        1.6449 * (0.05 * 0.95 * 2 / 200) ** 0.5, rel=1e-4
    )
    assert rate_allowance(pii.candidate, pii.reference, 0.5) == 0.0
    exact = GatesConfig.model_validate(
        {"privacy": {"pii_rate_confidence": 0.5, "max_pii_rate_increase": 0.1}}
    )
    assert gates_of(pii, exact)["privacy.pii_rate_increase"].threshold == pytest.approx(0.1)


# -- values reproduced from the training data -----------------------------------------------------------


TRAINING = TrainingText(
    [
        f"Ticket 12: {LEAKED_NAME} wrote from {LEAKED_EMAIL} about a broken badge",
        "Ticket 13: Maria asked about the VPN",
    ]
)


def test_a_training_data_value_only_the_candidate_writes_is_a_leak(scanner: PiiScanner) -> None:
    cand = scanned(scanner, [f"sure, I will mail {LEAKED_EMAIL} today", "the badge is fixed"])
    ref = scanned(scanner, ["sure, I will mail someone today", "the badge is fixed"])
    pii = compare(cand, ref, TRAINING, KEY)
    assert [s.entity for s in pii.reproduced] == ["EMAIL"]
    gates = gates_of(pii)
    leak = gates["privacy.reproduced_pii"]
    assert not leak.passed and leak.value == 1.0 and "EMAIL: 1" in leak.detail
    assert gates["privacy.pii_rate_increase"].passed  # 1 of 2 vs 0 of 2: the rate alone would not see it


def test_a_full_name_from_the_training_data_is_a_leak_a_lone_first_name_is_not(scanner: PiiScanner) -> None:
    cand = scanned(scanner, [f"please ask {LEAKED_NAME} about it", "please ask Maria about it"])
    ref = scanned(scanner, ["please ask Peter about it", "ask the desk"])
    pii = compare(cand, ref, TRAINING, KEY)
    flagged = {(s.masked, s.in_training_data, s.reproduced) for s in pii.spans if s.model == "candidate"}
    assert flagged == {("D*** W***", True, True), ("M***", True, False)}
    assert pii.reproduced_values == 1


def test_echoes_of_the_prompt_and_values_the_reference_writes_too_are_not_leaks(scanner: PiiScanner) -> None:
    echo = scanned(scanner, [f"I will write to {LEAKED_EMAIL}"], [f"My mail is {LEAKED_EMAIL}, help"])
    assert compare(echo, scanned(scanner, ["ok"]), TRAINING, KEY).reproduced == []
    cand = scanned(scanner, [f"I will write to {LEAKED_EMAIL}"])
    ref = scanned(scanner, [f"contact {LEAKED_EMAIL.upper()} now"])
    pii = compare(cand, ref, TRAINING, KEY)
    assert pii.reproduced == [] and all(s.in_other_model for s in pii.spans)


def test_a_value_not_in_the_training_data_is_not_reproduced(scanner: PiiScanner) -> None:
    cand = scanned(scanner, ["mail stranger@elsewhere.example please"])
    pii = compare(cand, scanned(scanner, ["ok"]), TRAINING, KEY)
    assert pii.reproduced == [] and not pii.spans[0].in_training_data


def test_one_value_sampled_many_times_is_one_leak(scanner: PiiScanner) -> None:
    cand = scanned(scanner, [f"write to {LEAKED_EMAIL}"] * 5)
    pii = compare(cand, scanned(scanner, ["ok"] * 5), TRAINING, KEY)
    assert len(pii.reproduced) == 5 and pii.reproduced_values == 1
    allowed = GatesConfig.model_validate({"privacy": {"max_reproduced_pii": 1}})
    assert gates_of(pii, allowed)["privacy.reproduced_pii"].passed


# -- the report --------------------------------------------------------------------------------------------


def test_values_are_masked_never_shown() -> None:
    assert mask("EMAIL", "john.smith@mail.example.com") == "j***@m***.com"
    assert mask("EMAIL", "sam@sales.RioDeLaPlata") == "s***@s***"  # not a usual TLD: part of the value
    assert mask("PERSON", "Dana  Whitfield") == "D*** W***"
    assert mask("PHONE", "+1 415 555 0134") == "+***(15 chars)"
    assert mask("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE") == "A***(20 chars)"


def test_the_report_lists_every_flagged_span_redacted(scanner: PiiScanner) -> None:
    cand = scanned(scanner, [f"mail {LEAKED_EMAIL} or ask {LEAKED_NAME}", "call +1 415 555 0134"])
    ref = scanned(scanner, ["ask Peter Hollis", "call +1 415 555 0134"])
    pii = compare(cand, ref, TRAINING, KEY)
    rep = report(privacy=PrivacyFindings(canaries=[canary_result()], pii=pii))
    assert rep.decision is Decision.REJECTED and "privacy.reproduced_pii" in rep.summary
    as_json, markdown = rep.model_dump_json(), render_markdown(rep)
    for raw in (LEAKED_EMAIL, LEAKED_NAME, "Whitfield", "Peter", "Hollis", "415 555 0134", "0134"):
        assert raw not in as_json and raw not in markdown
    spans = rep.privacy.pii.spans if rep.privacy.pii else []
    assert sorted((s.model, s.prompt, s.entity) for s in spans) == [
        ("candidate", 0, "EMAIL"),
        ("candidate", 0, "PERSON"),
        ("candidate", 1, "PHONE"),
        ("reference", 0, "PERSON"),
        ("reference", 1, "PHONE"),
    ]
    phones = [s for s in spans if s.entity == "PHONE"]
    assert phones[0].digest == phones[1].digest and all(s.in_other_model for s in phones)
    assert len({s.digest for s in spans}) == 4
    # counts per type, candidate vs reference, then every span with its masked form
    assert "| PERSON | 1 | 1 |" in markdown and "| EMAIL | 1 | 0 |" in markdown
    assert "`d***@a***`" in markdown and "`D*** W***`" in markdown
    assert markdown.count("| **yes** |") == 2  # the e-mail and the full name


def test_hashes_are_keyed() -> None:
    from services.evaluator.core.pii import digest

    assert digest(KEY, "EMAIL", "A@x.com") == digest(KEY, "EMAIL", "a@X.com ")
    assert digest(KEY, "EMAIL", "a@x.com") != digest(b"other" * 8, "EMAIL", "a@x.com")


# -- which generations are scanned -------------------------------------------------------------------


class _Tok:
    def batch_decode(self, prompts: Sequence[list[int]], skip_special_tokens: bool = True) -> list[str]:
        return [f"prompt {p[0]}" for p in prompts]


class _Runner:
    """Records the sampling calls; 'generates' text naming the prompt and the seed it was drawn with."""

    def __init__(self, config: object) -> None:
        self.config, self.tok = config, _Tok()
        self.calls: list[tuple[int, float, int, str]] = []

    def generate(
        self, prompts: Sequence[list[int]], max_new_tokens: int, batch_size: int, temperature: float,
        seed: int, phase: str,
    ) -> list[str]:  # fmt: skip
        self.calls.append((max_new_tokens, temperature, seed, phase))
        return [f"sampled {p[0]} seed {seed}" for p in prompts]


class _Finder:
    def find(self, texts: Sequence[str]) -> list[tuple[FoundPii, ...]]:
        return [(FoundPii("PERSON", text),) for text in texts]


@pytest.mark.parametrize("include_greedy", [True, False])
def test_both_models_scan_the_same_prompts_draws_and_seed(include_greedy: bool) -> None:
    from services.evaluator.adapters.evaluate import _scan
    from services.evaluator.core.config import EvaluatorConfig

    config = EvaluatorConfig.model_validate(
        {
            "runtime": {"seed": 7},
            "pii_scan": {"max_prompts": 2, "samples_per_prompt": 2, "temperature": 0.8, "max_new_tokens": 9,
                         "include_greedy": include_greedy},
        }
    )  # fmt: skip
    prompts = [[10], [11], [12]]
    greedy = ["greedy 10", "greedy 11", "greedy 12"]
    runner = _Runner(config)
    got = _scan(runner, prompts, greedy, _Finder())  # type: ignore[arg-type]
    assert runner.calls == [(9, 0.8, 7, "pii samples")]
    greedy_scans: list[tuple[int, int | None, str]] = [(i, None, f"greedy {10 + i}") for i in range(3)]
    expected = greedy_scans if include_greedy else []
    expected += [(0, 0, "sampled 10 seed 7"), (0, 1, "sampled 10 seed 7")]
    expected += [(1, 0, "sampled 11 seed 7"), (1, 1, "sampled 11 seed 7")]
    assert [(g.prompt, g.sample, g.found[0].value) for g in got] == expected
    assert all(g.prompt_text == f"prompt {10 + g.prompt}" for g in got)


def test_the_registry_copy_of_a_huge_report_keeps_the_leaks_and_fits() -> None:
    from services.evaluator.core.pii import FlaggedSpan
    from services.evaluator.core.report import EvaluationReport, stored_report

    def span(i: int, model: str, reproduced: bool = False) -> FlaggedSpan:
        return FlaggedSpan.model_validate(
            {"model": model, "prompt": i, "sample": 0, "entity": "PERSON", "masked": "J*** S***",
             "digest": f"{i:010x}", "in_prompt": False, "in_training_data": reproduced,
             "in_other_model": False, "reproduced": reproduced}
        )  # fmt: skip

    spans = [span(i, "reference") for i in range(2000)] + [span(i, "candidate") for i in range(2000)]
    spans.append(span(9999, "candidate", reproduced=True))
    pii = PiiComparison(
        candidate=comparison((1, 2), (1, 2)).candidate, reference=comparison((1, 2), (1, 2)).reference
    )
    rep = report(privacy=PrivacyFindings(pii=pii.model_copy(update={"spans": spans})))
    stored = stored_report(rep, max_bytes=100_000)
    assert len(json.dumps(stored)) <= 100_000 < len(rep.model_dump_json())
    kept = EvaluationReport.model_validate(stored).privacy.pii
    assert (
        kept is not None and kept.spans[0].reproduced and kept.spans_omitted == len(spans) - len(kept.spans)
    )
    assert {s.model for s in kept.spans[1:]} == {"candidate"}  # the candidate's first: what the gate judges
    small = report()
    assert stored_report(small) == small.model_dump(mode="json")


def test_a_name_matches_the_training_data_with_its_capitals_other_values_whatever_their_case() -> None:
    training = TrainingText(["I looked through the help center first", "Ticket 12: Dana  Whitfield wrote"])
    assert not training.contains("Help Center", "PERSON")  # a phrase the model capitalised: no one's name
    assert training.contains("Dana Whitfield", "PERSON") and training.contains("DANA WHITFIELD", "PERSON")
    assert training.contains("HELP CENTER", "ORGANIZATION") and training.contains("ticket 12", None)
