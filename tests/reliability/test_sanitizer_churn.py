"""Sanitizer churn (issue 16, item 5): two sanitizer workers share the stream, and one of them is restarted
every 30 s for 5 minutes (a rolling update that never ends), while records flow the whole time.

Copies of records already stored are inserted into the source during the churn: the exact-dedup history
lives in a changelogged Faust table, so it must survive each rebalance and the copies must still be
dropped. Asserted: every fed record is stored exactly once, sanitized, and no copy is stored.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.chain import MARKER, Chain, Feeder, outcome

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(720)]

CHURN_S, RESTART_EVERY_S = 300.0, 30.0
RATE = 30.0
RECORDS = int(CHURN_S * RATE)  # the feed lasts as long as the churn
COPY_EVERY_S = 12.0
SEED = 5


def test_a_sanitizer_restarted_every_30_s_loses_nothing_and_still_drops_copies(
    kafka_bootstrap: str, dynamodb_endpoint: str, dynamodb_client: Any, namespace: str, unique_id: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    started = time.monotonic()
    rng = random.Random(SEED)
    feeder = Feeder(tmp_path, RECORDS, RATE, chunk=15)
    chain = Chain(
        tmp_path, kafka_bootstrap, dynamodb_endpoint, namespace, unique_id, feeder,
        sanitizers=2, by_hash_partitions=4,
    )  # fmt: skip
    churned = chain.workers[1]  # the other worker stays up throughout
    copied: list[int] = []  # fed records copied into the source
    restart_s: list[float] = []
    try:
        chain.start()
        feeder.start()
        churn_started = time.monotonic()
        next_restart, next_copy = churn_started + RESTART_EVERY_S, churn_started + COPY_EVERY_S
        while (now := time.monotonic()) - churn_started < CHURN_S:
            chain.check_alive()
            if now >= next_restart:
                began = time.monotonic()
                chain.restart(churned)
                restart_s.append(time.monotonic() - began)
                next_restart += RESTART_EVERY_S
            if now >= next_copy:
                # A copy of a record already stored, i.e. already in the dedup history.
                stored = sorted(
                    int(m) for _, content in chain.stored(dynamodb_client) for m in MARKER.findall(content)
                )
                candidates = [n for n in stored if n % 2 == 0 and n not in copied]
                if candidates:
                    n = rng.choice(candidates)
                    feeder.duplicate(n)
                    copied.append(n)
                next_copy += COPY_EVERY_S
            time.sleep(0.5)
        feeder.join(60)
        settled_s = chain.settle(dynamodb_client, RECORDS, timeout_s=240)
        time.sleep(5)  # the copies inserted last have had their chance to be (wrongly) stored
        result = outcome(chain.stored(dynamodb_client), RECORDS)
    finally:
        chain.stop()
    print(
        f"\nsanitizer churn: {len(restart_s)} restarts in {CHURN_S:.0f} s (each {min(restart_s):.1f}-"
        f"{max(restart_s):.1f} s to stop and start); {result.line()}; copies inserted {len(copied)}, "
        f"stored {sum(1 for n in copied if n in result.stored_twice)}; lag 0 {settled_s:.0f} s after the "
        f"feed ended; test {time.monotonic() - started:.0f} s"
    )
    result.assert_exactly_once()  # a stored copy shows up as its record stored twice
    assert chain.restarts["sanitizer"] >= CHURN_S / RESTART_EVERY_S - 1
    assert len(copied) >= 15, copied
