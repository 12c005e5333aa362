"""Fixtures of the sanitizer's unit tests: a policy, keys, a fake NER model, record factories."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from libs.schemas import RawRecord
from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.core.policy import SanitizerPolicy

KEYS = Keys(
    pseudonym_key=b"unit-test-pseudonym-key-0123456789abcdef", key_id="test-k1", encryption_key=b"0" * 32
)


class FakeNer:
    """Tags the given words as PERSON wherever they occur; counts calls."""

    def __init__(self, people: Sequence[str] = (), fail_on: str | None = None) -> None:
        self.people = list(people)
        self.fail_on = fail_on
        self.calls: list[list[str]] = []

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        self.calls.append(list(texts))
        out = []
        for text in texts:
            if self.fail_on is not None and self.fail_on in text:
                raise RuntimeError("model failure")
            ents: list[tuple[int, int, str]] = []
            for person in self.people:
                ents.extend((m.start(), m.end(), "PERSON") for m in re.finditer(re.escape(person), text))
            out.append(ents)
        return out

    def common_words(self) -> frozenset[str]:
        return frozenset({"requires", "maintainer", "gateway"})


@pytest.fixture
def policy() -> SanitizerPolicy:
    return SanitizerPolicy()


@pytest.fixture
def make_record() -> Callable[..., RawRecord]:
    counter = iter(range(10**9))

    def make(content: str = "hello world, this is a record", **kw: Any) -> RawRecord:
        values: dict[str, Any] = {
            "id": f"rec-{next(counter)}",
            "source": "support",
            "kind": "log",
            "content": content,
            "collected_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        }
        values.update(kw)
        return RawRecord.model_validate(values)

    return make
