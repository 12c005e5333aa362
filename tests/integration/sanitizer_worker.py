"""Runs the real sanitizer service (``services.sanitizer.__main__``) with one change: its NER model
raises on texts containing ``POISON-PILL``, so the integration test can check that a recognizer that
fails on one record sends that record to the dead-letter topic while the stream goes on. Everything else
is the service's own start-up, logging set-up included (``main`` keeps the ``faust``, ``mode`` and
``aiokafka`` loggers at WARNING or above, since they log message values at DEBUG)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from services.sanitizer import __main__ as service
from services.sanitizer import build

MARKER = "POISON-PILL"
_real_load_ner = build.load_ner


class _PoisonedNer:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        if any(MARKER in t for t in texts):
            raise RuntimeError("recognizer failure injected by the test")
        result: list[list[tuple[int, int, str]]] = self._inner.tag(texts)
        return result

    def common_words(self) -> frozenset[str]:
        words: frozenset[str] = self._inner.common_words()
        return words


def _load_ner(policy: Any) -> Any:
    return _PoisonedNer(_real_load_ner(policy))


setattr(service, "load_ner", _load_ner)  # noqa: B010 - the one change to the real service

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker"]
    sys.exit(service.main())
