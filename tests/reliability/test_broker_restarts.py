"""The Kafka broker killed (kill -9) and started again three times while 50,000 records flow from a growing
SQLite table and log file through the collector, sanitizer and writer (issue 16, item 1).

The broker is a node of this test's own (the session's is shared and must not die), restarted on the
same port and data. Asserted: every fed record is stored in DynamoDB exactly once (one item per marker,
so a record collected again under a new id counts as stored twice), sanitized (no fed e-mail address
stored), the groups' lag returns to zero, and no service exits: each rides out the broker's absence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from libs.devstack.kafka import KafkaProcess
from tests.reliability.chain import Chain, Feeder, kill_broker, outcome

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(720)]

RECORDS, RATE = 50_000, 1_000.0
KILLS = 3
DOWN_S = 3.0  # how long the broker stays dead before it is started again


def test_three_broker_kills_under_load_lose_nothing_and_store_nothing_twice(
    own_broker: KafkaProcess, dynamodb_endpoint: str, dynamodb_client: Any, namespace: str,
    unique_id: str, tmp_path: Path,
) -> None:  # fmt: skip
    started = time.monotonic()
    feeder = Feeder(tmp_path, RECORDS, RATE)
    chain = Chain(tmp_path, own_broker.config.bootstrap, dynamodb_endpoint, namespace, unique_id, feeder)
    outages: list[tuple[int, float, float]] = []  # (records stored at the kill, seconds down, restart s)
    try:
        chain.start()
        feeder.start()
        # Kills spread over the feed: the chain is busy and behind at each one.
        for k in range(KILLS):
            at = (k + 1) * RECORDS / (KILLS + 1)
            while feeder.fed < at:
                chain.check_alive()
                time.sleep(0.2)
            stored = len(chain.stored(dynamodb_client))
            gone_s = kill_broker(own_broker)
            time.sleep(DOWN_S)
            chain.check_alive()
            restart_at = time.monotonic()
            own_broker.start()
            outages.append((stored, gone_s + DOWN_S, time.monotonic() - restart_at))
        feeder.join(120)
        fed_at = time.monotonic()
        settled_s = chain.settle(dynamodb_client, RECORDS, timeout_s=420)
        chain.check_alive()
        time.sleep(3)  # nothing more may arrive
        result = outcome(chain.stored(dynamodb_client), RECORDS)
    finally:
        chain.stop()
    total_s = time.monotonic() - started
    print(
        f"\nbroker kill -9 x{KILLS}: {result.line()}; outages (stored at the kill, down s, start s) "
        f"{[(s, round(d, 1), round(r, 1)) for s, d, r in outages]}; lag 0 {settled_s:.0f} s after the "
        f"last record was fed ({fed_at - started:.0f} s in); {RECORDS / total_s:.0f} records/s overall; "
        f"test {total_s:.0f} s"
    )
    result.assert_exactly_once()
    assert all(stored < RECORDS for stored, _, _ in outages), "a kill came after everything was stored"
