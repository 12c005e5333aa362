"""Fixtures shared by the trainer's unit tests: the in-memory run store and registry."""

from __future__ import annotations

import pytest

from tests.unit.trainer.fakes import FakeRegistry, InMemoryRunStore


@pytest.fixture
def store() -> InMemoryRunStore:
    return InMemoryRunStore()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()
