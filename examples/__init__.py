"""The demo's internal systems: a help-desk database, rotating application logs and a knowledge-base API
about the products of a fictional company, generated from a seed.

``start_example_systems`` runs all three; ``examples/sources.yaml`` is the collector's sources file for them.
Names are imported on first use, so ``python -m examples.helpdesk`` does not load the other systems first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from examples.domain import HeldOutQuestion, held_out_questions
    from examples.people import SENSITIVE, Planted, PlantedKind
    from examples.systems import SOURCES_FILE, ExampleSystems, start_example_systems, write_sanitizer_policy

_HOMES = {
    "HeldOutQuestion": "examples.domain",
    "held_out_questions": "examples.domain",
    "SENSITIVE": "examples.people",
    "Planted": "examples.people",
    "PlantedKind": "examples.people",
    "SOURCES_FILE": "examples.systems",
    "ExampleSystems": "examples.systems",
    "start_example_systems": "examples.systems",
    "write_sanitizer_policy": "examples.systems",
}

__all__ = [
    "SENSITIVE",
    "SOURCES_FILE",
    "ExampleSystems",
    "HeldOutQuestion",
    "Planted",
    "PlantedKind",
    "held_out_questions",
    "start_example_systems",
    "write_sanitizer_policy",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'examples' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
