"""The example data through the real sanitizer (spaCy included), as the collector reads it: every planted
personal value and secret is gone, the copies are dropped, and what the model should learn survives
(product names, error codes, every canonical fix word for word)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from examples import SOURCES_FILE, ExampleSystems, PlantedKind, start_example_systems, write_sanitizer_policy
from examples.domain import ISSUES, PRODUCTS
from libs.schemas.records import RawRecord, SanitizedRecord
from services.collector.adapters.http import HttpSource
from services.collector.adapters.logfiles import LogFileSource
from services.collector.adapters.sql import SqlSource
from services.collector.core.config import parse_sources
from services.collector.core.items import Emit
from services.sanitizer.adapters.presidio import Keys
from services.sanitizer.build import build_sanitizer
from services.sanitizer.core.policy import load_policy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
ANCHOR = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleSystems]:
    running = start_example_systems(
        tmp_path_factory.mktemp("systems"), tickets=120, log_lines=120, log_rate=1000, anchor=ANCHOR
    )
    running.wait_for_logs(30)
    yield running
    running.stop()


def collect(systems: ExampleSystems) -> list[RawRecord]:
    """What the collector's three sources make of the systems (in process, no Kafka)."""
    config = parse_sources(
        yaml.safe_load(SOURCES_FILE.read_text()), {**os.environ, **systems.env}, lambda p: ""
    )
    records: list[RawRecord] = []
    for source_config in config.sources:
        source = {"sql": SqlSource, "log": LogFileSource, "http": HttpSource}[source_config.kind](
            source_config
        )
        source.open({})
        for attempt in range(3):  # the log source emits its last entry after flush_after_s
            records += [RawRecord.model_validate_json(i.value) for i in source.poll() if isinstance(i, Emit)]
            if attempt < 2 and source_config.kind == "log":
                time.sleep(1.2)
        source.close()
    return records


def test_sanitized_examples_keep_the_domain_and_lose_the_personal_data(
    systems: ExampleSystems, tmp_path: Path
) -> None:
    raw = collect(systems)
    assert Counter(r.source for r in raw) == systems.expected_records()
    policy_file = write_sanitizer_policy(REPO / "config" / "sanitizer.yaml", tmp_path / "sanitizer.yaml")
    sanitizer = build_sanitizer(load_policy(policy_file), Keys(pseudonym_key=b"k" * 32, key_id="test"))
    out = [r for r in sanitizer.run(raw) if isinstance(r, SanitizedRecord)]

    by_source = Counter(r.source for r in out)
    assert by_source["support"] == systems.unique_tickets()  # exact and near copies dropped, no more
    assert by_source["wiki"] == 25 and by_source["app-logs"] == len(systems.logs.written)

    decoded = [r.model_dump(mode="json") for r in out]
    assert systems.leaks(decoded) == []  # names, e-mails, phones, keys, tokens, passwords
    kinds = {p.kind for p in systems.planted()}
    assert {PlantedKind.NAME, PlantedKind.EMAIL, PlantedKind.PHONE, PlantedKind.API_KEY} <= kinds
    assert {PlantedKind.BEARER_TOKEN, PlantedKind.PASSWORD} <= kinds

    answers = [str(r.fields.get("answer", "")) for r in out if r.source == "support"]
    tickets = {t.issue_code for t in systems.helpdesk.unique_tickets()}
    for issue in ISSUES:
        if issue.code in tickets:
            assert any(issue.fix in a for a in answers), issue.code
    text = "\n".join(r.content for r in out if r.source in ("support", "wiki"))
    for product in PRODUCTS:
        assert product.name in text
    assert "<PERSON_" in text  # customers' names were replaced, not the products'
