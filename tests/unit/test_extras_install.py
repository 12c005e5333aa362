"""Each service installs alone: a fresh virtual environment holding only the core dependencies and the
service's extra imports every module of the service, and holds none of the other services' stacks.

Slow (one environment per service): installed offline from uv's cache, which scripts/setup.sh filled
when it installed tuneline[dev]; skipped where there is no uv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_import_graph import SERVICES, declared

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]

# Distributions (import names) that must not come with a service's extra.
FOREIGN = {
    "collector": ["faust", "torch", "presidio_analyzer", "ray"],
    "writer": ["faust", "torch", "presidio_analyzer", "ray", "httpx"],
    "sanitizer": ["torch", "ray", "deepspeed", "rouge_score"],
    "trainer": ["faust", "aiokafka", "presidio_analyzer", "rouge_score"],
    "evaluator": ["faust", "aiokafka", "ray", "deepspeed"],
    "server": ["faust", "aiokafka", "presidio_analyzer", "ray", "deepspeed", "rouge_score"],
}

_CHECK = """
import importlib, importlib.util, pkgutil, sys
name, foreign = sys.argv[1], sys.argv[2].split(",")
package = importlib.import_module(f"services.{name}")
modules = [m.name for m in pkgutil.walk_packages(package.__path__, f"services.{name}.")]
for module in modules:
    importlib.import_module(module)
importlib.import_module("services.cli")
present = [f for f in foreign if importlib.util.find_spec(f) is not None]
assert not present, f"installed with tuneline[{name}]: {present}"
print(len(modules))
"""


def _uv() -> str | None:
    cache = Path(os.environ.get("TUNELINE_CACHE_DIR", Path.home() / ".cache" / "tuneline"))
    bundled = sorted(cache.glob("tools/uv-*/bin/uv"))
    return str(bundled[-1]) if bundled else shutil.which("uv")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_installs_and_imports_with_only_its_extra(service: str, tmp_path: Path) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("no uv (scripts/setup.sh installs it)")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    requirements = [str(req) for req in declared(service)]
    # Pinned to the versions this environment holds: their wheels are surely in uv's cache, whereas its
    # cached index pages (refreshed by any later `uv pip compile`) may name newer releases never fetched.
    frozen = subprocess.run(
        [uv, "pip", "freeze", "-q", "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(line for line in frozen if "==" in line and "@" not in line) + "\n")
    install = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--offline",
            "--python",
            str(python),
            "-c",
            str(constraints),
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run(
        [str(python), "-c", _CHECK, service, ",".join(FOREIGN[service])],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT), "TUNELINE_SANITIZER_DEV_MODE": "true"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) > 5  # the service's modules were found and imported


def test_every_service_says_which_stacks_its_extra_must_not_bring() -> None:
    assert set(FOREIGN) == set(SERVICES)
