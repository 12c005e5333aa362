"""The eval examples of a run, re-derived from its snapshot records.

The trainer packs its eval side into blocks (``blocks.pt``), which mixes records; the evaluator needs one
example per record to break metrics down per source and to compare generations with references. The split
is the trainer's own (``is_eval`` on the record id, at the manifest's ``eval_fraction``), and so is the
record -> example rule (``to_example``), so the evaluator measures exactly the records the run held out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from libs.training_data.formatting import Example, to_example
from libs.training_data.split import eval_score, is_eval

UNKNOWN_SOURCE: Final = "unknown"


@dataclass(frozen=True, slots=True)
class EvalExample:
    """One held-out record: plain ``text``, or a ``prompt`` with its reference ``response``."""

    record_id: str
    source: str
    dataset: str
    text: str | None = None
    prompt: str | None = None
    response: str | None = None

    def __post_init__(self) -> None:
        self.as_example()  # the trainer's rule: text, or both prompt and response, never both

    @property
    def is_pair(self) -> bool:
        return self.prompt is not None

    def as_example(self) -> Example:
        return Example(text=self.text, prompt=self.prompt, response=self.response)

    @property
    def content(self) -> str:
        """The text a person wrote (tokenizer-independent; its size in bytes normalizes losses)."""
        if self.text is not None:
            return self.text
        return f"{self.prompt}\n{self.response}"


class SnapshotLike(Protocol):
    """What the evaluator reads from a snapshot record (``SnapshotRecord``; ``source`` where it has one)."""

    @property
    def id(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def fields(self) -> Mapping[str, object]: ...


def eval_examples(
    records: Iterable[SnapshotLike],
    dataset: str,
    eval_fraction: float,
    max_examples: int | None = None,
) -> list[EvalExample]:
    """The run's eval examples, sorted by record id.

    ``max_examples`` caps the set with a stable sample: the records with the lowest split score (a hash
    of the id, uniform over ids), so the same snapshot always gives the same sample and the sample is not
    biased towards any id prefix (and so any source).
    """
    chosen: list[EvalExample] = []
    for record in records:
        if not is_eval(record.id, eval_fraction):
            continue
        example = to_example(record.content, record.fields)
        if example is None:
            continue
        source = getattr(record, "source", None)
        chosen.append(
            EvalExample(
                record_id=record.id,
                source=source if isinstance(source, str) and source else UNKNOWN_SOURCE,
                dataset=dataset,
                text=example.text,
                prompt=example.prompt,
                response=example.response,
            )
        )
    return cap_examples(chosen, max_examples)


MIN_TEXT_WORDS: Final = 8  # a plain text shorter than this is not worth continuing


def cap_examples(examples: Iterable[EvalExample], max_examples: int | None) -> list[EvalExample]:
    """The same stable sample as ``eval_examples`` (lowest split scores), sorted by record id."""
    ordered = sorted(examples, key=lambda e: e.record_id)
    if max_examples is None or len(ordered) <= max_examples:
        return ordered
    sample = sorted(ordered, key=lambda e: (eval_score(e.record_id), e.record_id))[:max_examples]
    return sorted(sample, key=lambda e: e.record_id)


def for_generation(examples: Iterable[EvalExample], max_pairs: int, max_texts: int) -> list[EvalExample]:
    """The examples both models generate for, chosen without any tokenizer so both get the same ones:
    the first ``max_pairs`` prompt/response pairs, then the first ``max_texts`` plain texts of at least
    ``MIN_TEXT_WORDS`` words (by record id)."""
    ordered = sorted(examples, key=lambda e: e.record_id)
    pairs = [e for e in ordered if e.is_pair][:max_pairs]
    texts = [e for e in ordered if not e.is_pair and len((e.text or "").split()) >= MIN_TEXT_WORDS]
    return pairs + texts[:max_texts]
