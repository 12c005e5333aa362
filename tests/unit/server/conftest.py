from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.server import tiny_served


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_served.build(tmp_path_factory.mktemp("server-models"))
