"""The trainer's DynamoDB adapters (runs, counters, leases, registry, snapshots) on the real
DynamoDB-compatible server: every conditional write raced by real threads."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from libs.common.backoff import Backoff
from libs.registry import ModelRegistry, NothingToRollBack
from libs.schemas import RecordKind, SanitizedRecord, Table, TriggerReason, table_name
from libs.storage.items import to_item
from libs.storage.runs import RunSummary, read_run
from libs.storage.snapshot import SnapshotReader
from libs.storage.tables import DatasetCounters, init_tables
from services.trainer.adapters.dynamodb import DatasetState, DynamoRunStore, LeaseStore
from services.trainer.core.errors import InvalidTransition, RunNotFound
from services.trainer.core.runs import Progress, RunRecord, RunState
from services.writer.adapters.dynamodb import DynamoBatchWriter

pytestmark = [pytest.mark.integration]

NOW = dt.datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=dt.UTC)
T = TypeVar("T")


@pytest.fixture
def tables(dynamodb_client: Any, table_prefix: str) -> str:
    init_tables(dynamodb_client, table_prefix)
    return table_prefix


def race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` on ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def make_run(run_id: str, dataset: str = "support", minutes: int = 0, **fields: Any) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        dataset=dataset,
        reason=TriggerReason.MANUAL,
        requested_by="alice",
        created_at=NOW + dt.timedelta(minutes=minutes),
        **fields,
    )


# -- runs ------------------------------------------------------------------------------------------


def test_dynalite_has_no_transactions_so_the_store_falls_back(dynamodb_client: Any, tables: str) -> None:
    # Pins down what the test server offers; the transactional path needs AWS or DynamoDB Local.
    with pytest.raises(ClientError) as caught:
        dynamodb_client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table_name(Table.RUNS, tables),
                        "Item": {"pk": {"S": "x"}, "sk": {"S": "x"}},
                    }
                }
            ]
        )
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    store = DynamoRunStore(dynamodb_client, tables)
    assert store.create(make_run("r-1", idempotency_key="k"))[1] is True
    assert store.transactions is False


def test_run_round_trips_every_field_exactly(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    run = make_run(
        "support-20261125T120000-0a1b2c3d",
        overrides={"learning_rate": 0.1 + 0.2, "scaling": {"workers": 3}, "tags": ["a", None, True]},
        config={"epochs": 1e-300, "big": 1.7976931348623157e308, "deep": {"x": [1, 2.5]}},
        progress=Progress(step=3, max_steps=10, epoch=0.30000000000000004, phase="training"),
        metrics={"loss": 2.718281828459045, "nan": math.nan, "inf": math.inf},
        started_at=NOW + dt.timedelta(seconds=1),
        data_watermark=dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        record_count=12345,
        base_model="tuneline/tiny-llama",
        owner="trainer-0",
        cancel_requested=False,
    )
    assert store.create(run) == (run, True)
    stored = store.get(run.run_id)
    assert stored is not None
    assert math.isnan(stored.metrics.pop("nan")) and math.isnan(run.metrics.pop("nan"))
    assert stored == run
    assert stored.config["epochs"] == 1e-300 and stored.overrides["learning_rate"] == 0.1 + 0.2
    assert store.get("no-such-run") is None


def test_other_services_read_the_summary_the_trainer_wrote(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    store.create(make_run("support-20261125T120000-1a1b2c3d"))
    queued = read_run(dynamodb_client, tables, "support-20261125T120000-1a1b2c3d")
    assert queued == RunSummary("support-20261125T120000-1a1b2c3d", "support", "queued", None)
    store.move(queued.run_id, {RunState.QUEUED}, RunState.RUNNING)
    store.move(queued.run_id, {RunState.RUNNING}, RunState.SUCCEEDED, model_uri="s3://models/support/x",
               base_model="tuneline/tiny-llama")  # fmt: skip
    done = read_run(dynamodb_client, tables, queued.run_id)
    assert done is not None and (done.state, done.model_uri) == ("succeeded", "s3://models/support/x")
    assert done.base_model == "tuneline/tiny-llama"
    assert read_run(dynamodb_client, tables, "no-such-run") is None


def test_the_outbox_lists_unannounced_runs_and_one_claim_wins(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    for i, announced in enumerate((False, True, None, False)):
        run_id = f"outbox-{i}"
        store.create(make_run(run_id, minutes=i))
        store.move(run_id, {RunState.QUEUED}, RunState.RUNNING)
        fields: dict[str, Any] = {"finished_at": NOW + dt.timedelta(minutes=10 - i)}
        if announced is not None:
            fields["announced"] = announced
        store.move(run_id, {RunState.RUNNING}, RunState.FAILED, **fields)
    assert [r.run_id for r in store.unannounced()] == ["outbox-3", "outbox-0"]  # oldest outcome first

    wins = race(8, lambda i: store.claim_announcement("outbox-0", f"replica-{i}", 1_000, 60_000))
    assert wins.count(True) == 1
    assert not store.claim_announcement("outbox-0", "late", 30_000, 60_000)  # held
    assert store.claim_announcement("outbox-0", "late", 61_001, 60_000)  # lapsed: another may take it
    assert not store.claim_announcement("outbox-1", "x", 1_000, 60_000)  # announced already
    assert not store.claim_announcement("outbox-2", "x", 1_000, 60_000)  # not in the outbox
    store.mark_announced("outbox-0")
    marked = store.get("outbox-0")
    assert marked is not None and marked.announced is True
    assert not store.claim_announcement("outbox-0", "x", 10**12, 60_000)
    assert [r.run_id for r in store.unannounced()] == ["outbox-3"]


def test_list_is_newest_first_with_dataset_filter_and_limit(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    for minutes, dataset in [(1, "a"), (3, "b"), (2, "a"), (0, "b")]:
        store.create(make_run(f"{dataset}-{minutes}", dataset=dataset, minutes=minutes))
    ModelRegistry(dynamodb_client, tables).set_production("a", "a-1", "file:///m", None)  # not a run
    assert [r.run_id for r in store.list()] == ["b-3", "a-2", "a-1", "b-0"]
    assert [r.run_id for r in store.list(dataset="a")] == ["a-2", "a-1"]
    assert [r.run_id for r in store.list(limit=2)] == ["b-3", "a-2"]
    assert store.list(dataset="nothing") == []


@pytest.mark.parametrize("transactions", [None, False])
def test_same_idempotency_key_gives_one_run(
    dynamodb_client: Any, tables: str, transactions: bool | None
) -> None:
    store = DynamoRunStore(dynamodb_client, tables, transactions=transactions)
    first, created = store.create(make_run("r-first", idempotency_key="key-1", overrides={"epochs": 1}))
    assert created
    again, created = store.create(make_run("r-second", idempotency_key="key-1", overrides={"epochs": 9}))
    assert not created
    assert again == first and again.overrides == {"epochs": 1}
    assert store.get("r-second") is None

    results = race(8, lambda i: store.create(make_run(f"r-race-{i}", idempotency_key="key-2")))
    assert sum(created for _, created in results) == 1
    assert len({run.run_id for run, _ in results}) == 1
    assert sorted(r.run_id for r in store.list()) == sorted(["r-first", results[0][0].run_id])


def test_a_key_whose_creator_died_before_storing_its_run_is_adopted(
    dynamodb_client: Any, tables: str
) -> None:
    # The two-put fallback's gap: the key's item exists, its run was never written.
    dynamodb_client.put_item(
        TableName=table_name(Table.RUNS, tables),
        Item={"pk": {"S": "idem#orphan"}, "sk": {"S": "idem"}, "run_id": {"S": "r-lost"}},
    )
    store = DynamoRunStore(dynamodb_client, tables, transactions=False, adopt_after_s=0.2)
    adopted, created = store.create(make_run("r-new", idempotency_key="orphan"))
    assert created and adopted.run_id == "r-lost"
    assert store.get("r-lost") == adopted
    again, created = store.create(make_run("r-newer", idempotency_key="orphan"))
    assert not created and again == adopted


def test_move_is_conditional_on_the_source_state(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    store.create(make_run("r-1"))

    started = NOW + dt.timedelta(minutes=1)
    results = race(
        2,
        lambda i: store.move("r-1", {RunState.QUEUED}, RunState.RUNNING, owner=f"t-{i}", started_at=started),
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].state is RunState.RUNNING and winners[0].started_at == started
    assert store.get("r-1") == winners[0]

    assert store.move("r-1", {RunState.QUEUED}, RunState.CANCELLED) is None
    assert store.move("unknown", {RunState.QUEUED}, RunState.RUNNING) is None
    with pytest.raises(InvalidTransition):
        store.move("r-1", {RunState.SUCCEEDED}, RunState.RUNNING)
    with pytest.raises(InvalidTransition):  # queued -> succeeded is never allowed
        store.move("r-1", {RunState.QUEUED, RunState.RUNNING}, RunState.SUCCEEDED)

    store.update("r-1", progress=Progress(step=5, max_steps=10, phase="training"), metrics={"loss": 1.5})
    done = store.move("r-1", {RunState.RUNNING}, RunState.SUCCEEDED, model_uri="file:///m/r-1", owner=None)
    assert done is not None
    assert (done.state, done.model_uri, done.owner) == (RunState.SUCCEEDED, "file:///m/r-1", None)
    assert done.progress.step == 5 and done.metrics == {"loss": 1.5}
    with pytest.raises(RunNotFound):
        store.update("unknown", error="x")
    with pytest.raises(ValueError, match="record_count"):
        store.update("r-1", record_count=-1)


def test_request_cancel(dynamodb_client: Any, tables: str) -> None:
    store = DynamoRunStore(dynamodb_client, tables)
    for run_id in ("queued", "running", "finished"):
        store.create(make_run(run_id))
    store.move("running", {RunState.QUEUED}, RunState.RUNNING)
    store.move("finished", {RunState.QUEUED}, RunState.FAILED, error="boom")

    cancelled = store.request_cancel("queued")
    assert cancelled is not None
    assert cancelled.state is RunState.CANCELLED and cancelled.finished_at is not None

    flagged = store.request_cancel("running")
    assert flagged is not None
    assert flagged.state is RunState.RUNNING and flagged.cancel_requested

    finished = store.get("finished")
    assert store.request_cancel("finished") == finished
    assert store.request_cancel("unknown") is None


# -- counters --------------------------------------------------------------------------------------


def test_records_written_while_training_starts_still_count(dynamodb_client: Any, tables: str) -> None:
    counters = DatasetCounters(dynamodb_client, tables)
    state = DatasetState(dynamodb_client, tables)
    assert state.read("support") == (0, None)
    counters.add({"support": 100}, NOW.isoformat())
    count, last = state.read("support")
    assert (count, last) == (100, None)

    def act(i: int) -> None:
        if i == 0:
            state.mark_training_started("support", count, NOW)
        else:
            counters.add({"support": 1}, NOW.isoformat())

    race(51, act)
    assert state.read("support") == (50, NOW)
    assert counters.get("support")["records_total"] == 150


# -- leases ----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_lease_goes_to_exactly_one_owner_until_it_expires(dynamodb_client: Any, tables: str) -> None:
    clock = Clock()
    leases = [LeaseStore(dynamodb_client, tables, f"replica-{i}", clock) for i in range(6)]
    won = race(len(leases), lambda i: leases[i].acquire("support", ttl_s=30, run_id=f"r-{i}"))
    assert sum(won) == 1
    winner = leases[won.index(True)]
    loser = leases[(won.index(True) + 1) % len(leases)]
    holder = winner.holder("support")
    assert holder is not None and holder.owner == winner.owner and holder.run_id == f"r-{won.index(True)}"

    assert not loser.renew("support", ttl_s=30)
    loser.release("support")  # not its lease: left alone
    assert winner.holder("support") == holder
    assert winner.acquire("support", ttl_s=30)  # re-acquiring one's own lease works

    clock.now += 20
    assert winner.renew("support", ttl_s=30)  # now expires at +50 s
    clock.now += 29
    assert not loser.acquire("support", ttl_s=30)
    clock.now += 2  # past the expiry: anyone may take it
    assert loser.holder("support") is None
    expired = loser.holder("support", include_expired=True)
    assert expired is not None and expired.owner == winner.owner
    assert loser.acquire("support", ttl_s=30)
    assert not winner.renew("support", ttl_s=30)
    holder = winner.holder("support")
    assert holder is not None and holder.owner == loser.owner and holder.run_id is None

    loser.release("support")
    assert winner.holder("support") is None
    assert winner.acquire("support", ttl_s=30)


# -- registry --------------------------------------------------------------------------------------


def test_registry_changes_production_only_from_the_expected_run(dynamodb_client: Any, tables: str) -> None:
    registry = ModelRegistry(dynamodb_client, tables)
    assert registry.production("support") is None
    assert registry.set_production("support", "r-1", "file:///m/r-1", expected_current=None, now=NOW)
    assert not registry.set_production("support", "r-x", "file:///m/r-x", expected_current=None)
    assert not registry.set_production("support", "r-x", "file:///m/r-x", expected_current="r-0")

    won = race(4, lambda i: registry.set_production("support", f"r-2{i}", f"file:///m/r-2{i}", "r-1"))
    assert sum(won) == 1
    current = registry.production("support")
    assert current is not None
    assert current.run_id == f"r-2{won.index(True)}" and current.previous_run_id == "r-1"
    assert current.model_uri == f"file:///m/{current.run_id}"
    assert [e["run_id"] for e in current.history] == ["r-1", current.run_id]  # every change, audited

    assert registry.set_production("billing", "b-1", "s3://models/b-1", None)
    DynamoRunStore(dynamodb_client, tables).create(make_run("not-a-model"))
    assert registry.production_all() == {"support": current.run_id, "billing": "b-1"}


def test_rollback_restores_the_previous_production_model(dynamodb_client: Any, tables: str) -> None:
    registry = ModelRegistry(dynamodb_client, tables)
    with pytest.raises(NothingToRollBack):
        registry.rollback("support", actor="ops", reason="none yet")
    assert registry.set_production("support", "r-1", "file:///m/r-1", None)
    with pytest.raises(NothingToRollBack):
        registry.rollback("support", actor="ops", reason="only one")
    assert registry.set_production("support", "r-2", "file:///m/r-2", "r-1")

    restored = registry.rollback("support", actor="ops", reason="r-2 answers badly")

    assert (restored.run_id, restored.model_uri, restored.previous_run_id) == ("r-1", "file:///m/r-1", "r-2")
    assert restored.action == "rollback" and restored.promoted_by == "ops"
    assert [(e["run_id"], e["action"]) for e in restored.history] == [
        ("r-1", "promote"),
        ("r-2", "promote"),
        ("r-1", "rollback"),
    ]


def test_evaluation_reports_round_trip(dynamodb_client: Any, tables: str) -> None:
    registry = ModelRegistry(dynamodb_client, tables)
    assert registry.evaluation("r-1") is None
    registry.put_evaluation("r-1", "support", "promoted", {"metrics": {"loss": 1.25}, "gates": []})
    stored = registry.evaluation("r-1")
    assert stored is not None and stored["decision"] == "promoted"
    assert stored["report"] == {"metrics": {"loss": 1.25}, "gates": []}
    assert DynamoRunStore(dynamodb_client, tables).list() == []  # a report is not a run


def test_drift_checks_round_trip_with_their_history(dynamodb_client: Any, tables: str) -> None:
    registry = ModelRegistry(dynamodb_client, tables)
    assert registry.drift("support") is None
    for n in range(3):
        registry.put_drift("support", "r-1", NOW + dt.timedelta(minutes=n), 100 * n, {"drifted": n == 2},
                           "/models/r-1/drift", {"at": n, "sources": {"wiki": 2.0 + n}})  # fmt: skip
    check = registry.drift("support")
    assert check is not None and (check.run_id, check.records_total) == ("r-1", 200)
    assert check.report == {"drifted": True}
    assert check.checked_at == NOW + dt.timedelta(minutes=2) and check.report_dir == "/models/r-1/drift"
    assert [h["at"] for h in check.history] == [0, 1, 2]
    assert registry.production("support") is None  # the drift item is not the production alias
    assert DynamoRunStore(dynamodb_client, tables).list() == []


# -- snapshots -------------------------------------------------------------------------------------


def record(i: int, dataset: str = "support") -> SanitizedRecord:
    content = f"Ticket {i}: VPN drops on <PERSON_1a2b3c>'s laptop. " * (150 if i % 100 == 0 else 1)
    return SanitizedRecord(
        id=f"helpdesk:{i:08d}",
        source="helpdesk",
        kind=RecordKind.SQL,
        content=content,
        fields={"ticket": i, "score": i / 8, "tags": ["vpn", {"": i}], "big": 10**20, "ok": i % 2 == 0},
        metadata={"table": "tickets"},
        collected_at=NOW,
        dataset=dataset,
        content_hash=f"{i:032x}",
        pii={"PERSON": 1},
        sanitized_at=NOW,
    )


WATERMARK = 1_800_000_000_000


def test_snapshot_reads_exactly_the_records_up_to_the_watermark(dynamodb_client: Any, tables: str) -> None:
    records = [record(i) for i in range(2000)]
    ingested = {r.id: WATERMARK - 1000 + i for i, r in enumerate(records)}  # 1001 at or before it
    items = [to_item(r, ingested[r.id], shards=16, max_bytes=4096) for r in records]
    items += [to_item(record(i, "billing"), WATERMARK - 5, shards=16) for i in range(5000, 5050)]
    assert sum("content_z" in item for item in items) == 20
    assert len({item["dataset_shard"] for item in items if item["dataset"] == "support"}) == 16
    writer = DynamoBatchWriter(
        dynamodb_client, table_name(Table.RECORDS, tables), backoff=Backoff(base_s=0.01, cap_s=0.2)
    )
    try:
        writer.write(items)
    finally:
        writer.close()

    reader = SnapshotReader(dynamodb_client, tables, shards=16, parallelism=8, page_size=40)
    got = {r.id: r for r in reader.read("support", WATERMARK)}
    expected = {r.id: r for r in records if ingested[r.id] <= WATERMARK}
    assert got.keys() == expected.keys() and len(got) == 1001
    for record_id, snap in got.items():
        original = expected[record_id]
        assert snap.content == original.content
        assert snap.ingested_at_ms == ingested[record_id]
        assert snap.fields == original.fields
        assert isinstance(snap.fields["ticket"], int) and isinstance(snap.fields["big"], int)
    assert isinstance(got["helpdesk:00000003"].fields["score"], float)
    assert not any(isinstance(v, Decimal) for snap in got.values() for v in snap.fields.values())
    assert sum(len(r.content) > 4096 for r in got.values()) == 11  # compressed ones, inflated

    billing = list(SnapshotReader(dynamodb_client, tables, parallelism=1).read("billing", WATERMARK))
    assert len(billing) == 50
    assert list(reader.read("support", WATERMARK - 2000)) == []
    # a window (continuous evaluation: what arrived after a model's watermark), lower bound excluded
    window = {r.id for r in reader.read("support", WATERMARK, after_ms=WATERMARK - 100)}
    assert window == {r.id for r in records if WATERMARK - 100 < ingested[r.id] <= WATERMARK}
    assert len(window) == 100
    assert list(reader.read("support", WATERMARK, after_ms=WATERMARK)) == []

    stream = reader.read("support", WATERMARK)
    first = [next(stream) for _ in range(5)]
    stream.close()  # the shard readers stop; nothing hangs
    assert len({r.id for r in first}) == 5
