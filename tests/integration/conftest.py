"""Fixtures shared by the integration tests that start services as processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pipeline_helpers import ServiceProcess


@pytest.fixture
def services() -> Iterator[list[ServiceProcess]]:
    """Service processes a test starts (append them); each is stopped when the test ends."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        service.stop()
