"""The GitHub Actions workflows: actionlint (with shellcheck on every ``run:`` block) passes, and our own
rules hold: every job is bounded in time, every action is pinned, permissions are declared at the top,
and CI runs the Makefile's targets rather than commands of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
WORKFLOWS: Final = ROOT / ".github" / "workflows"
ACTIONLINT_VERSION: Final = "v1.7.12"
INSTALL_HINT: Final = (
    "run scripts/install-go-tools.sh (it builds actionlint v1.7.12 from the Go module proxy into "
    "~/.cache/tuneline/tools/go/bin)"
)
# Targets CI runs that another branch adds to the Makefile; accepted only while the Makefile lacks them.
PENDING_TARGETS: Final = {"images": "scripts/build-images.sh, from the deployment images work"}
# Scripts the workflows run that another branch adds (accepted only while missing).
PENDING_SCRIPTS: Final = {"scripts/install-go-tools.sh": "helm and actionlint, from the Helm chart work"}
# What CI must run through the Makefile, so that CI and `make` on a laptop are the same commands.
REQUIRED_CI_TARGETS: Final = {"lint", "test-unit", "test-integration", "test-e2e", "images"}
PINNED: Final = re.compile(r"^[^@\s]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def _actionlint() -> Path:
    cache = Path(os.environ.get("TUNELINE_CACHE_DIR", Path.home() / ".cache" / "tuneline"))
    for candidate in (cache / "tools" / "go" / "bin" / "actionlint", shutil.which("actionlint")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail(f"actionlint is not installed: {INSTALL_HINT}")


def _run_actionlint(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if shutil.which("shellcheck") is None:  # actionlint would skip the run: blocks without a word
        pytest.fail("shellcheck is not on PATH: apt-get install shellcheck (scripts/setup.sh does)")
    return subprocess.run(
        [str(_actionlint()), "-no-color", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def _load(path: Path) -> dict[Any, Any]:
    # YAML 1.1 reads the key `on` as True; only `jobs` and `permissions` matter here.
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def makefile_targets(text: str) -> set[str]:
    """Rule names of a Makefile (``name: deps``), not variable assignments (``X := y``, ``X ?= y``)."""
    targets: set[str] = set()
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?![=:])", line)
        if match and not line.startswith("\t"):
            targets.update(t for t in match.group(1).split() if not t.startswith("."))
    return targets


def make_targets_run(script: str) -> set[str]:
    """The targets every ``make`` invocation in a shell script asks for (options and VAR=x skipped)."""
    found: set[str] = set()
    for match in re.finditer(r"(?:^|[;&|(]\s*|\s)make((?:[ \t]+[^\s;&|)#]+)*)", script, re.MULTILINE):
        found.update(w for w in match.group(1).split() if not w.startswith("-") and "=" not in w)
    return found


def test_the_workflows_we_ship_exist() -> None:
    assert {p.name for p in _workflow_files()} >= {"ci.yml", "release.yml"}


def test_actionlint_is_the_pinned_version() -> None:
    out = subprocess.run([str(_actionlint()), "-version"], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0].strip() == ACTIONLINT_VERSION, f"{out.stdout!r}: {INSTALL_HINT}"


def test_actionlint_and_shellcheck_pass_on_every_workflow() -> None:
    result = _run_actionlint(*_workflow_files())
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_shellcheck_passes_on_the_ci_scripts() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not on PATH: apt-get install shellcheck (scripts/setup.sh does)")
    scripts = sorted((ROOT / ".github" / "scripts").glob("*.sh"))
    assert scripts, "the workflows call .github/scripts/*.sh"
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_every_script_a_workflow_runs_exists() -> None:
    for path in _workflow_files():
        for _, step in _steps(_load(path)):
            for script in re.findall(r"\bbash\s+(\S+\.sh)\b", step.get("run", "")):
                if script not in PENDING_SCRIPTS:
                    assert (ROOT / script).is_file(), f"{path.name} runs {script}, which is not in the repo"


BROKEN_WORKFLOW = """\
name: broken
on: push
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    needs: [no-such-job]
    steps:
      - run: echo ${{ github.event.pull_request.title.nope( }}
"""

UNQUOTED_SHELL_WORKFLOW = """\
name: unquoted
on: push
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    steps:
      - run: |
          files=$(ls)
          rm $files
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [(BROKEN_WORKFLOW, "no-such-job"), (UNQUOTED_SHELL_WORKFLOW, "SC2086")],
    ids=["undefined-need-and-bad-expression", "shellcheck-unquoted-variable"],
)
def test_actionlint_fails_a_broken_workflow(tmp_path: Path, text: str, expected: str) -> None:
    """The check above could fail: a broken workflow, and one that only shellcheck objects to."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "broken.yml").write_text(text)
    result = _run_actionlint(workflows / "broken.yml", cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("path", _workflow_files(), ids=lambda p: p.name)
def test_permissions_are_set_at_the_top_and_every_job_is_bounded_in_time(path: Path) -> None:
    workflow = _load(path)
    assert "permissions" in workflow, f"{path.name}: set `permissions:` at the top (least privilege)"
    assert workflow["permissions"] not in ("write-all", "read-all"), path.name
    for job_id, job in workflow["jobs"].items():
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int) and 0 < minutes <= 120, f"{path.name}: job {job_id} timeout-minutes"


@pytest.mark.parametrize("path", _workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version_or_a_commit(path: Path) -> None:
    workflow = _load(path)
    uses = [step["uses"] for _, step in _steps(workflow) if "uses" in step]
    uses += [job["uses"] for job in workflow["jobs"].values() if "uses" in job]  # reusable workflows
    unpinned = [u for u in uses if not u.startswith("./") and not PINNED.match(u)]
    assert unpinned == [], f"{path.name}: pin to a version tag or a commit SHA, not a branch: {unpinned}"


def test_ci_only_reads_and_the_release_alone_publishes() -> None:
    ci, release = _load(WORKFLOWS / "ci.yml"), _load(WORKFLOWS / "release.yml")
    assert ci["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci["jobs"].values())
    assert release["permissions"] == {}
    writers = {j for j, job in release["jobs"].items() if "write" in (job.get("permissions") or {}).values()}
    packages = {j for j, job in release["jobs"].items() if job["permissions"].get("packages") == "write"}
    assert packages == {"images", "chart"} and writers == packages | {"github-release"}


def test_superseded_ci_runs_are_cancelled() -> None:
    concurrency = _load(WORKFLOWS / "ci.yml")["concurrency"]
    assert concurrency["cancel-in-progress"] is True and "github.ref" in concurrency["group"]


def test_makefile_targets_are_parsed() -> None:
    text = ".PHONY: a b\nPY := x\nX ?= y\nlint: setup\n\t$(PY) -m ruff\ntest-unit setup:\n"
    assert makefile_targets(text) == {"lint", "test-unit", "setup"}
    assert make_targets_run("make lint\nFOO=1 make -j2 test-unit V=1 && make\n(make images)") == {
        "lint",
        "test-unit",
        "images",
    }


def test_ci_runs_the_makefiles_targets_and_only_targets_that_exist() -> None:
    targets = makefile_targets((ROOT / "Makefile").read_text())
    used: set[str] = set()
    for _, step in _steps(_load(WORKFLOWS / "ci.yml")) + _steps(_load(WORKFLOWS / "release.yml")):
        used |= make_targets_run(step.get("run", ""))
    missing = {t for t in used - targets if t not in PENDING_TARGETS}
    assert missing == set(), f"the workflows run make targets the Makefile does not have: {missing}"
    assert REQUIRED_CI_TARGETS <= used, f"CI must run these through make: {REQUIRED_CI_TARGETS - used}"


def test_ci_caches_downloads_and_orders_the_slow_jobs() -> None:
    ci = _load(WORKFLOWS / "ci.yml")
    cached = " ".join(
        str(step.get("with", {}).get("path", ""))
        for _, step in _steps(ci)
        if str(step.get("uses", "")).startswith("actions/cache@")
    )
    for path in ("~/.cache/uv", "~/.cache/tuneline", "~/.cache/tuneline/tools/go"):
        assert path in cached, path
    # the Docker-heavy jobs start only once the quick ones passed
    assert set(ci["jobs"]["integration"]["needs"]) == {"lint", "unit"}
    assert ci["jobs"]["e2e"]["needs"] == ["integration"]
    assert ci["jobs"]["integration"]["env"]["TUNELINE_TEST_BACKEND"] == "docker"


@pytest.mark.parametrize(
    ("ref", "pinned"),
    [
        ("actions/checkout@v4", True),
        ("actions/checkout@v4.2.2", True),
        ("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", True),
        ("actions/checkout@main", False),
        ("actions/checkout@master", False),
        ("actions/checkout", False),
        ("actions/checkout@11bd719", False),  # a short SHA can be made ambiguous by a new commit
    ],
)
def test_the_pin_rule(ref: str, pinned: bool) -> None:
    assert bool(PINNED.match(ref)) is pinned


def test_the_release_pushes_every_service_image_and_the_chart_at_the_tags_version() -> None:
    release = _load(WORKFLOWS / "release.yml")
    services = {p.parent.name for p in (ROOT / "services").glob("*/__main__.py")}
    assert set(release["env"]["SERVICES"].split()) == services
    assert release[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads `on` as True
    scripts = "\n".join(step.get("run", "") for _, step in _steps(release))
    assert 'for tag in "$VERSION" latest' in scripts and "docker push" in scripts
    assert '--version "$VERSION"' in scripts and "oci://ghcr.io/" in scripts
    assert "gh release create" in scripts and 'dist/tuneline-$VERSION.tgz"' in scripts
