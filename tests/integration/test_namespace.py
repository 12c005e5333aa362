"""Two pipelines on one broker and one DynamoDB, told apart by TUNELINE_NAMESPACE alone.

Each namespace runs the real collector, sanitizer and writer with their default topic, group, app id and
table names (only the namespace, ports and state folders differ), and both collect a source of the same
name. Each pipeline's records reach its own sanitized topic and its own records table, and nothing of the
other's does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from libs.devstack.probes import LOCAL_AWS_KEY_ID, LOCAL_AWS_SECRET
from libs.devstack.servers import free_port
from libs.schemas import SanitizedRecord, decode
from tests.integration.collector_helpers import read_all
from tests.integration.pipeline_helpers import ROOT, ServiceProcess, TopicReader, sanitizer_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LINES = 10


@pytest.fixture
def namespaces(unique_id: str, kafka_admin: AdminClient, dynamodb_client: Any) -> Iterator[tuple[str, str]]:
    pair = (f"a-{unique_id}", f"b-{unique_id}")
    yield pair
    prefixes = tuple(f"{ns}." for ns in pair)
    topics = [t for t in kafka_admin.list_topics(timeout=30).topics if t.startswith(prefixes)]
    if topics:
        for future in kafka_admin.delete_topics(topics).values():
            future.result(timeout=30)
    for page in dynamodb_client.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if name.startswith(prefixes):
                dynamodb_client.delete_table(TableName=name)


def _pipeline(
    namespace: str, kafka_bootstrap: str, dynamodb_endpoint: str, unique_id: str, folder: Path
) -> tuple[ServiceProcess, ServiceProcess, ServiceProcess]:
    folder.mkdir()
    log_file = folder / "tickets.log"
    log_file.write_text(
        "".join(
            f"2026-01-05T10:00:{i:02d}Z WARN [{namespace}] ticket HD-{5000 + i}: invoice export failed "
            f"with code E{2200 + i} for customer {namespace}.{i}@example-helpdesk.com, retry {i}\n"
            for i in range(LINES)
        )
    )
    sources = folder / "sources.yaml"
    sources.write_text(
        yaml.safe_dump({"sources": [{"kind": "log", "name": "tickets", "paths": [str(log_file)]}]})
    )
    policy = yaml.safe_load((ROOT / "config" / "sanitizer.yaml").read_text())
    policy["names"]["enabled"] = False  # the names are not what this test is about; saves a spaCy load
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy))

    common = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TUNELINE_NAMESPACE": namespace,
        "TUNELINE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TUNELINE_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": LOCAL_AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_SECRET,
        "TUNELINE_HOME": str(folder / "home"),
    }
    collector = ServiceProcess(
        "collector",
        {
            **common,
            "TUNELINE_COLLECTOR_CONFIG_FILE": str(sources),
            "TUNELINE_COLLECTOR_HTTP_PORT": str(free_port()),
            "TUNELINE_COLLECTOR_CHECKPOINT_INTERVAL_S": "0.2",
        },
        folder / "collector.log",
        folder,
    )
    sanitizer = ServiceProcess(
        "sanitizer",
        {
            **sanitizer_env(kafka_bootstrap, unique_id, folder / "faust"),
            **{k: v for k, v in common.items() if k.startswith(("TUNELINE_", "AWS_"))},
            "TUNELINE_SANITIZER_CONFIG_FILE": str(folder / "policy.yaml"),
        },
        folder / "sanitizer.log",
        folder,
    )
    writer = ServiceProcess(
        "writer",
        {**common, "TUNELINE_WRITER_HTTP_PORT": str(free_port()), "TUNELINE_WRITER_TOPIC_PARTITIONS": "2"},
        folder / "writer.log",
        folder,
    )
    return collector, sanitizer, writer


def _has(reader: TopicReader, count: int) -> Callable[[], bool]:
    return lambda: len(reader.messages) >= count


def _stored_ids(dynamodb_client: Any, table: str) -> set[str]:
    ids: set[str] = set()
    for page in dynamodb_client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        ids.update(item["id"]["S"] for item in page.get("Items", []) if "id" in item)
    return ids


def test_two_namespaces_share_a_broker_and_dynamodb_without_crosstalk(
    kafka_bootstrap: str,
    dynamodb_endpoint: str,
    dynamodb_client: Any,
    namespaces: tuple[str, str],
    services: list[ServiceProcess],
    unique_id: str,
    tmp_path: Path,
) -> None:
    pipelines = {
        ns: _pipeline(ns, kafka_bootstrap, dynamodb_endpoint, unique_id, tmp_path / ns) for ns in namespaces
    }
    for collector, _, _ in pipelines.values():
        services.append(collector.start())

    raw_ids: dict[str, set[str]] = {}
    deadline = time.monotonic() + 120
    for ns, (collector, _, _) in pipelines.items():
        while len(raw_ids.get(ns, ())) < LINES and time.monotonic() < deadline:
            assert collector.alive(), collector.log()[-3000:]
            time.sleep(0.5)
            raw_ids[ns] = {m.key for m in read_all(kafka_bootstrap, f"{ns}.raw.tickets")}
        assert len(raw_ids[ns]) == LINES, collector.log()[-3000:]
    assert not raw_ids[namespaces[0]] & raw_ids[namespaces[1]]

    for _, sanitizer, writer in pipelines.values():
        services.extend([sanitizer.start(), writer.start()])

    for ns, (_, sanitizer, writer) in pipelines.items():
        reader = TopicReader(kafka_bootstrap, f"{ns}.sanitized.records", f"reader-{ns}")
        try:
            reader.until(_has(reader, LINES), 300, sanitizer, writer)
            reader.until(lambda: False, 3, sanitizer, writer)  # nothing else arrives
        finally:
            reader.close()
        sanitized = {decode(SanitizedRecord, value).id for _, value in reader.messages}
        assert sanitized == raw_ids[ns], sanitizer.log()[-3000:]

        table = f"{ns}.tuneline-records"
        deadline = time.monotonic() + 120
        stored: set[str] = set()
        while stored != raw_ids[ns] and time.monotonic() < deadline:
            assert writer.alive(), writer.log()[-3000:]
            time.sleep(1)
            try:
                stored = _stored_ids(dynamodb_client, table)
            except dynamodb_client.exceptions.ResourceNotFoundException:
                continue
        assert stored == raw_ids[ns], writer.log()[-3000:]

    names = dynamodb_client.list_tables()["TableNames"]
    for ns in namespaces:
        assert {f"{ns}.tuneline-records", f"{ns}.tuneline-state", f"{ns}.tuneline-runs"} <= set(names)
