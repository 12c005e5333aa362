"""The compose stack, for real: the images built from deploy/docker, started from docker-compose.yml with
the local override (docker-compose.local.yml: local images, host network on 127.0.0.1), carry the
example help desk's tickets from SQLite through the collector, Kafka, the sanitizer and the writer into
DynamoDB, anonymized.

Every port is a free one picked here (the override reads them from the environment), so the stack never
meets the test session's servers or a developer's. Containers and volumes are removed even on failure.
Skipped only when no Docker engine answers and TUNELINE_TEST_BACKEND is not ``docker``.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from libs.devstack.images import docker_usable
from libs.devstack.servers import free_port
from libs.schemas import Table, table_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["kafka", "dynamodb", "init", "examples", "collector", "sanitizer", "writer"]
TUNELINE_SERVICES = ["collector", "sanitizer", "writer", "trainer", "evaluator", "server"]
TICKETS = 40
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# ------------------------------------------------------------- the definitions (no Docker needed)


@pytest.mark.parametrize("service", TUNELINE_SERVICES)
def test_each_dockerfile_runs_its_service_as_non_root_with_only_its_extra(service: str) -> None:
    text = (ROOT / "deploy" / "docker" / f"{service}.Dockerfile").read_text()
    settings = getattr(importlib.import_module(f"services.{service}.settings"), f"{service.title()}Settings")
    port = settings.model_fields["http_port"].default
    assert (ROOT / "services" / service / "__main__.py").is_file()
    assert f'ENTRYPOINT ["python", "-m", "services.{service}"]' in text
    assert f"EXPOSE {port}\n" in text, f"{service} listens on {port} by default"
    assert "USER 10001:10001" in text
    # An extra may come from a build argument (the trainer's: kuberay for tuneline/trainer-kuberay);
    # its default must be the service's own extra.
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    extras = [
        defaults.get(argument, "") if argument else literal
        for argument, literal in re.findall(r'install-deps\.sh "?(?:\$\{(\w+)\}|(\w+))', text)
    ]
    assert extras == [service]
    assert "HEALTHCHECK" in text and "org.opencontainers.image.title" in text


def test_compose_services_are_healthchecked_ordered_and_need_their_secrets() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(TUNELINE_SERVICES) | {"kafka", "dynamodb", "init", "examples"} == set(services)
    for name in ["kafka", "dynamodb", *TUNELINE_SERVICES]:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in TUNELINE_SERVICES:
        assert services[name]["depends_on"]["init"] == {"condition": "service_completed_successfully"}
        assert services[name]["read_only"] is True
    assert services["init"]["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "dynamodb": {"condition": "service_healthy"},
    }
    for name in ("trainer", "evaluator", "server"):
        assert services[name]["environment"]["TUNELINE_ADMIN_TOKEN"].startswith("${TUNELINE_ADMIN_TOKEN:?")
    key = services["sanitizer"]["environment"]["TUNELINE_SANITIZER_PSEUDONYM_KEY"]
    assert key.startswith("${TUNELINE_SANITIZER_PSEUDONYM_KEY:?")
    local = yaml.safe_load((ROOT / "docker-compose.local.yml").read_text())["services"]
    assert {name: s.get("network_mode") for name, s in local.items()} == dict.fromkeys(services, "host")


# ------------------------------------------------------------- the stack, for real


def compose_command() -> list[str] | None:
    """The first Compose that runs here: TUNELINE_COMPOSE (a command line), the Compose plugin, a Compose
    built from the Go module proxy into the tools cache, then Debian's docker-compose 1.29."""
    if os.environ.get("TUNELINE_COMPOSE"):
        return os.environ["TUNELINE_COMPOSE"].split()
    candidates: list[list[str]] = [["docker", "compose"]]
    tools = Path(os.environ.get("TUNELINE_CACHE_DIR", Path.home() / ".cache" / "tuneline")) / "tools"
    candidates += [[str(p)] for p in sorted(tools.glob("compose-*/docker-compose"), reverse=True)]
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            done = subprocess.run([*command, "version"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return command
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    if not docker_usable():
        if os.environ.get("TUNELINE_TEST_BACKEND") == "docker":
            pytest.fail("TUNELINE_TEST_BACKEND=docker but no Docker engine answers (docker info failed)")
        pytest.skip("no Docker engine answers (docker info failed); the compose stack needs one")
    command = compose_command()
    if command is None:
        pytest.fail("no Compose found: apt-get install docker-compose (scripts/setup.sh does)")
    return command


def build_images() -> None:
    """The servers' images (`tuneline dev images`, a no-op when up to date) and the services' ones (Docker's
    layer cache makes a rebuild of unchanged code take seconds)."""
    for argv in (
        [str(ROOT / ".venv" / "bin" / "tuneline"), "dev", "images"],
        ["bash", str(ROOT / "scripts" / "build-images.sh"), "collector", "sanitizer", "writer"],
    ):
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        print(done.stdout)


@pytest.fixture
def stack(compose: list[str], tmp_path: Path) -> Iterator[dict[str, str]]:
    build_images()
    data = tmp_path / "examples"
    data.mkdir()
    data.chmod(0o777)  # the examples service writes here, then hands it to uid 10001
    env = {
        **os.environ,
        "TUNELINE_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "TUNELINE_SANITIZER_PSEUDONYM_KEY": secrets.token_hex(32),
        "TUNELINE_EXAMPLE_DATA": str(data),
        "TUNELINE_EXAMPLE_TICKETS": str(TICKETS),
        "TUNELINE_EXAMPLE_LOG_ENTRIES": "20",
        **{
            name: str(free_port())
            for name in (
                "TUNELINE_KAFKA_PORT",
                "TUNELINE_KAFKA_CONTROLLER_PORT",
                "TUNELINE_DYNAMODB_PORT",
                "TUNELINE_TRAINER_PORT",
                "TUNELINE_COLLECTOR_PORT",
                "TUNELINE_SANITIZER_PORT",
                "TUNELINE_WRITER_PORT",
                "TUNELINE_EVALUATOR_PORT",
                "TUNELINE_SERVER_PORT",
                "TUNELINE_SANITIZER_FAUST_PORT",
            )
        },
    }
    for name in ("TUNELINE_KAFKA_IMAGE", "TUNELINE_DYNAMODB_IMAGE", "TUNELINE_NAMESPACE"):
        env.pop(name, None)  # the override's local images and the default names
    project = ["-p", f"tuneline-smoke-{os.getpid()}"]
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.local.yml")]
    base = [*compose, *project, *files]

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    started = time.monotonic()
    try:
        up = run("up", "-d", *SERVICES)
        assert up.returncode == 0, f"compose up failed:\n{up.stdout[-3000:]}{up.stderr[-3000:]}"
        print(f"compose up -d returned after {time.monotonic() - started:.1f} s")
        yield env
    except BaseException:
        logs = run("logs", "--no-color", "--tail", "40", timeout=120)
        print(f"compose logs:\n{logs.stdout[-12000:]}{logs.stderr[-2000:]}")
        raise
    finally:
        down = run("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300)
        print(f"{' '.join(compose)}: stack up and down in {time.monotonic() - started:.1f} s")
        assert down.returncode == 0, f"compose down failed:\n{down.stdout}{down.stderr}"


def planted_emails(db: Path) -> set[str]:
    """The e-mail addresses written into the help desk's tickets: personal data the sanitizer must replace."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT subject, question, answer FROM tickets").fetchall()
    return {email for row in rows for text in row for email in EMAIL.findall(text or "")}


def stored_support_items(endpoint: str) -> list[dict[str, Any]]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name(Table.RECORDS, "tuneline-")}
    while True:
        try:
            page = client.scan(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            return []
        items += [item for item in page["Items"] if item.get("source", {}).get("S") == "support"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.deploy
@pytest.mark.timeout(2400)
def test_example_tickets_reach_dynamodb_anonymized(stack: dict[str, str]) -> None:
    endpoint = f"http://127.0.0.1:{stack['TUNELINE_DYNAMODB_PORT']}"
    db = Path(stack["TUNELINE_EXAMPLE_DATA"]) / "helpdesk.db"
    deadline = time.monotonic() + 300
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = stored_support_items(endpoint)
        if len(items) >= TICKETS // 2:  # the rest may be duplicates the sanitizer drops
            break
        time.sleep(3)
    print(f"{len(items)} support records in DynamoDB {time.monotonic() - deadline + 300:.1f} s after up")
    assert len(items) >= TICKETS // 2, f"only {len(items)} support records stored within 300 s"

    emails = planted_emails(db)
    assert emails, "the example help desk wrote no e-mail address: nothing to check the anonymization on"
    stored = "\n".join(repr(item) for item in items)
    leaked = sorted(email for email in emails if email in stored)
    assert not leaked, f"e-mail addresses stored verbatim in DynamoDB: {leaked[:5]}"
    assert "<EMAIL_" in stored, "no pseudonymized e-mail in the stored records"
    # Every stored record went through the sanitizer: it carries the dataset the policy maps support to.
    assert {item["dataset"]["S"] for item in items} == {"support"}
