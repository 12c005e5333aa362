"""Batched processing in the real Faust worker on the real broker: the finish agent takes records in
batches (NER once per batch) and acks a batch only once its outputs are confirmed. The worker is killed
with SIGKILL while a backlog is being drained, after some output but before all of it, and restarted:
every unique record comes out, a redelivered record comes out with the same content, a copy never."""

from __future__ import annotations

import re
import signal
import urllib.request
from collections import defaultdict

import pytest

from benchmarks.sanitizer_data import generate
from libs.schemas import SanitizedRecord, decode
from tests.integration import test_sanitizer as base
from tests.integration.test_sanitizer import Topics, Worker

topics = base.topics  # the fixtures of the sanitizer's integration tests
worker = base.worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCH = 16


def _metric(worker: Worker, name: str) -> float:
    port = worker.env["TUNELINE_SANITIZER_HTTP_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    kafka_bootstrap: str, topics: Topics, worker: Worker, consumer_group: str
) -> None:
    samples = base._certain(generate(400, seed=21, dup_rate=0.2, near_rate=0.0))
    uniques = {s.id for s in samples if s.duplicate_of is None}
    copies = {s.id for s in samples if s.duplicate_of is not None}
    assert copies, "the backlog must hold exact copies"
    worker.env["TUNELINE_SANITIZER_BATCH_SIZE"] = str(BATCH)
    worker.env["TUNELINE_SANITIZER_BATCH_WITHIN_S"] = "0.5"
    base._produce(kafka_bootstrap, topics.raw, [(s.id.encode(), base._raw(s)) for s in samples])

    out = base.Drain(kafka_bootstrap, topics.sanitized, consumer_group)
    try:
        worker.start()
        out.until(lambda: len(out.messages) >= 2 * BATCH + 5, worker, 240)
        worker.stop(signal.SIGKILL)  # a crash mid-drain: no clean shutdown, no final commit
        before = len(out.messages)
        worker.start()
        out.until(lambda: {decode(SanitizedRecord, v).id for v, _ in out.messages} >= uniques, worker, 300)
        out.until(lambda: False, worker, 5)  # nothing more arrives
        batches = _metric(worker, 'tuneline_sanitizer_stage_seconds_count{stage="anonymize"}')
        records = _metric(worker, 'tuneline_sanitizer_records_out_total{dataset="support"}')
    finally:
        out.close()

    assert 0 < before < len(uniques), "the kill must come after some output and before all of it"
    outputs = [decode(SanitizedRecord, value) for value, _ in out.messages]
    assert {r.id for r in outputs} == uniques, worker.log()[-3000:]
    assert not copies & {r.id for r in outputs}  # duplicates are still dropped, across the restart too
    # a record sent twice (its batch redelivered after the kill) is the same record both times
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in outputs:
        seen[r.id].add((r.content, r.content_hash))
    assert all(len(versions) == 1 for versions in seen.values())
    # the restarted worker ran NER over batches, not record by record
    assert records > 0 and batches < records / 2, (batches, records)
