"""Random kill -9 of the collector, sanitizer and writer, several times each and interleaved, while records
flow from a growing SQLite table and log file (issue 16, item 2).

Each killed process is started again at once, as Kubernetes would. Asserted: every fed record is stored
exactly once (one item per marker), sanitized; the groups catch up; and where a record reached
``sanitized.records`` more than once (at-least-once delivery after a kill), every copy has the same
content: the same text, fields, personal-data counts and hash, because pseudonyms are keyed, not random.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.integration.collector_helpers import read_all
from tests.reliability.chain import Chain, Feeder, outcome

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600)]

RECORDS, RATE = 15_000, 250.0  # a 60 s feed: every kill lands while records flow
KILLS_EACH = 3
GAP_S = (3.0, 5.0)  # seconds between two kills
SEED = 16
# What a copy in sanitized.records must repeat; sanitized_at and collected_at are times of the retry.
SAME_IN_EVERY_COPY = ("content", "fields", "pii", "content_hash", "dataset", "source", "kind")


def test_random_kills_lose_nothing_and_store_each_record_once(
    kafka_bootstrap: str, dynamodb_endpoint: str, dynamodb_client: Any, namespace: str, unique_id: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    started = time.monotonic()
    rng = random.Random(SEED)
    feeder = Feeder(tmp_path, RECORDS, RATE)
    chain = Chain(tmp_path, kafka_bootstrap, dynamodb_endpoint, namespace, unique_id, feeder)
    victims = [service for service in chain.services for _ in range(KILLS_EACH)]
    rng.shuffle(victims)
    kills: list[tuple[str, int]] = []  # (service, records fed at the kill)
    try:
        chain.start()
        feeder.start()
        time.sleep(5)  # under way before the first kill
        for victim in victims:
            chain.kill(victim)
            kills.append((victim.name, feeder.fed))
            time.sleep(rng.uniform(*GAP_S))
            chain.check_alive()
        feeder.join(120)
        settled_s = chain.settle(dynamodb_client, RECORDS, timeout_s=300)
        time.sleep(3)
        result = outcome(chain.stored(dynamodb_client), RECORDS)
        copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in read_all(kafka_bootstrap, chain.sanitized_topic, timeout_s=30):
            copies[message.key].append(message.value)
    finally:
        chain.stop()
    repeated = {key: values for key, values in copies.items() if len(values) > 1}
    differing = [
        key
        for key, values in repeated.items()
        if len({tuple(repr(v.get(f)) for f in SAME_IN_EVERY_COPY) for v in values}) > 1
    ]
    schedule = ", ".join(f"{name}@{fed}" for name, fed in kills)
    print(
        f"\nrandom kill -9 ({len(kills)}: {schedule}): {result.line()}; "
        f"sanitized.records {sum(map(len, copies.values()))} messages for {len(copies)} ids, {len(repeated)} "
        f"delivered more than once, {len(differing)} with differing content; lag 0 {settled_s:.0f} s after "
        f"the feed ended; test {time.monotonic() - started:.0f} s"
    )
    result.assert_exactly_once()
    assert len(copies) == RECORDS
    assert differing == [], [repeated[key] for key in differing[:2]]
    assert all(fed < RECORDS for _, fed in kills), f"a kill came after the feed ended: {kills}"
    assert {name for name, _ in kills} == {"collector", "sanitizer", "writer"}
