from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from libs.training_data.split import is_eval
from services.evaluator.core.examples import (
    UNKNOWN_SOURCE,
    EvalExample,
    cap_examples,
    eval_examples,
    for_generation,
)


@dataclass(frozen=True)
class Rec:
    id: str
    content: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourcedRec(Rec):
    source: str = "crm"


def records(n: int = 400) -> list[Rec]:
    out: list[Rec] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(SourcedRec(f"r{i:04d}", "", {"question": f"q{i}?", "answer": f"a{i}."}))
        elif i % 3 == 1:
            out.append(Rec(f"r{i:04d}", f"plain text number {i}"))
        else:
            out.append(Rec(f"r{i:04d}", "   "))  # nothing to learn from
    return out


def test_the_eval_side_is_the_trainers_split_with_the_trainers_examples() -> None:
    examples = eval_examples(reversed(records()), "general", 0.3)
    expected = [r.id for r in records() if is_eval(r.id, 0.3) and (r.content.strip() or r.fields)]
    assert [e.record_id for e in examples] == sorted(expected)
    pair = next(e for e in examples if e.is_pair)
    assert pair.source == "crm" and pair.prompt and pair.response and pair.text is None
    text = next(e for e in examples if not e.is_pair)
    assert text.source == UNKNOWN_SOURCE and text.dataset == "general"


def test_the_cap_is_a_stable_sample_whatever_the_order() -> None:
    full = eval_examples(records(), "general", 0.5)
    capped = eval_examples(records(), "general", 0.5, max_examples=20)
    again = cap_examples(reversed(full), 20)
    assert len(capped) == 20 and capped == again
    assert {e.record_id for e in capped} < {e.record_id for e in full}
    assert capped != full[:20]  # not simply the first ids


def test_an_example_is_text_or_a_pair() -> None:
    with pytest.raises(ValueError):
        EvalExample("a", "s", "d", text="x", prompt="p", response="r")
    with pytest.raises(ValueError):
        EvalExample("a", "s", "d", prompt="p")


def test_generation_takes_pairs_then_long_enough_texts() -> None:
    examples = [
        EvalExample("c", "s", "d", prompt="p", response="r"),
        EvalExample("a", "s", "d", text="one two three four five six seven eight"),
        EvalExample("b", "s", "d", text="too short"),
        EvalExample("d", "s", "d", prompt="p2", response="r2"),
    ]
    assert [e.record_id for e in for_generation(examples, 5, 5)] == ["c", "d", "a"]
    assert [e.record_id for e in for_generation(examples, 1, 0)] == ["c"]
