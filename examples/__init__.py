"""The demo's internal systems: a help-desk database, rotating application logs and a knowledge-base API
about the products of a fictional company, generated from a seed.

``start_example_systems`` runs all three; ``examples/sources.yaml`` is the collector's sources file for them.
"""

from examples.domain import HeldOutQuestion, held_out_questions
from examples.people import SENSITIVE, Planted, PlantedKind
from examples.systems import SOURCES_FILE, ExampleSystems, start_example_systems, write_sanitizer_policy

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
