"""The three systems together, the sources file that reads them, and what the sanitizer needs to know."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from examples import SOURCES_FILE, PlantedKind, start_example_systems, write_sanitizer_policy
from examples.domain import vocabulary
from examples.people import AGENTS, FIRST_NAMES, LAST_NAMES
from services.collector.core.config import LogSourceConfig, SqlSourceConfig, parse_sources
from services.collector.core.http import HttpSourceConfig
from services.sanitizer.core.policy import load_policy

REPO = Path(__file__).resolve().parents[3]


def test_start_serve_and_stop(tmp_path: Path) -> None:
    anchor = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    systems = start_example_systems(tmp_path, tickets=30, log_lines=40, log_rate=400, anchor=anchor)
    try:
        env = systems.env
        systems.wait_for_logs(30)
        assert systems.expected_records() == {"support": 30, "app-logs": 40, "wiki": 25}
        assert 20 <= systems.unique_tickets() <= 30
        engine = sa.create_engine(env["HELPDESK_DB_URL"])
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one() == 30
        engine.dispose()
        assert (Path(env["APP_LOG_DIR"]) / "app.log").exists()
        auth = {"Authorization": f"Bearer {env['KB_API_TOKEN']}"}
        assert httpx.get(env["KB_API_URL"], headers=auth).status_code == 200
        assert httpx.get(env["KB_API_URL"]).status_code == 401
        values = systems.planted_values()
        kinds = {p.kind for p in systems.planted()}
        assert {PlantedKind.NAME, PlantedKind.EMAIL, PlantedKind.PHONE, PlantedKind.BEARER_TOKEN} <= kinds
        assert values == sorted(values, key=lambda v: (-len(v), v)) and len(values) == len(set(values))
        assert not any(v.startswith("LL-") for v in values)  # account ids are not in the default kinds
    finally:
        systems.stop()
    url = systems.kb.articles_url
    try:
        httpx.get(url, timeout=2)
        raise AssertionError("the KB API still answers after stop()")
    except httpx.TransportError:
        pass


def test_sources_file_reads_the_three_systems_into_the_right_datasets(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HELPDESK_DB_URL": f"sqlite:///{tmp_path}/h.db",
        "APP_LOG_DIR": str(tmp_path / "logs"),
        "KB_API_URL": "http://127.0.0.1:9/api/v1/articles",
        "KB_API_TOKEN": "t",
    }
    config = parse_sources(yaml.safe_load(SOURCES_FILE.read_text()), env, lambda p: "")
    by_name = {s.name: s for s in config.sources}
    support, logs, wiki = by_name["support"], by_name["app-logs"], by_name["wiki"]
    assert isinstance(support, SqlSourceConfig) and {"question", "answer"} <= set(support.columns or [])
    assert isinstance(logs, LogSourceConfig) and logs.paths[0] == f"{tmp_path}/logs/*.log"
    assert isinstance(wiki, HttpSourceConfig) and wiki.use_etag
    policy = yaml.safe_load((REPO / "config" / "sanitizer.yaml").read_text())
    routes = policy["datasets"]["sources"]
    assert (routes["support"], routes["app-logs"], routes["wiki"]) == ("support", "logs", "docs")


def test_vocabulary_holds_product_names_and_no_person_names(tmp_path: Path) -> None:
    words = set(vocabulary())
    assert {"nimbus", "hub", "quill", "sync", "aster", "pay", "tandem", "mesh", "larkspur"} <= words
    people = {w.lower() for w in (*FIRST_NAMES, *LAST_NAMES)} | {w.lower() for a in AGENTS for w in a.split()}
    assert not words & people
    path = write_sanitizer_policy(REPO / "config" / "sanitizer.yaml", tmp_path / "sanitizer.yaml")
    stop_words = {w.lower() for w in load_policy(path).names.extra_stop_words}
    assert words <= stop_words
    assert load_policy(path).datasets == load_policy(REPO / "config" / "sanitizer.yaml").datasets


def test_leaks_match_first_names_as_whole_words(tmp_path: Path) -> None:
    systems = start_example_systems(tmp_path, tickets=40, log_lines=1, log_rate=100)
    try:
        firsts = [p for p in systems.planted() if p.kind is PlantedKind.FIRST_NAME]
        assert firsts
        name = firsts[0].value
        every = list(PlantedKind)
        assert systems.leaks(f"Thanks,\n{name}\n", every) == [firsts[0]]
        assert systems.leaks(f"x{name.lower()}y {name}s", every) == []
        assert systems.leaks("nothing personal here") == []
        email = next(p for p in systems.planted() if p.kind is PlantedKind.EMAIL)
        assert email in systems.leaks(f"<{email.value}>")
        record = {"content": "ok", "fields": {"sign_off": [f"Thanks,\n{name}"]}}
        assert systems.leaks(record, every) == [firsts[0]]  # decoded records are searched string by string
    finally:
        systems.stop()
