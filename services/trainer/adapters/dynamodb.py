"""The trainer's DynamoDB state: runs (``RunStore``), per-dataset counters, scheduler leases and the model
registry. Every change that two replicas could race on is a conditional write.

Item layouts (tables from ``libs.storage.tables``):

- runs table, run: ``pk "run#<run_id>", sk "run"``, one attribute per ``RunRecord`` field (strings, numbers,
  booleans; datetimes as ISO 8601 strings; ``overrides``, ``config``, ``progress`` and ``metrics`` as JSON
  strings, so floats round-trip exactly); a ``None`` field is an absent attribute.
- runs table, idempotency key: ``pk "idem#<key>", sk "idem"``, attributes ``run_id``, ``created_at``.
- runs table, registry and evaluation reports: see ``libs.registry``.
- state table, counters: ``pk "dataset#<dataset>"`` (the writer ADDs ``records_total`` and
  ``records_since_training``), plus ``last_training_at`` set here.
- state table, lease: ``pk "lease#<dataset>"``, attributes ``owner``, ``expires_at`` (epoch ms),
  ``acquired_at`` (epoch ms), ``run_id``.

The client should be built with botocore's ``retries={"mode": "standard"}`` (throttling backoff).
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Final

from botocore.exceptions import ClientError
from pydantic import TypeAdapter, ValidationError

from libs.schemas import Table, table_name
from libs.storage.keys import RUN_PREFIX, RUN_SK, dataset_pk, lease_pk, run_pk
from services.trainer.core.errors import InvalidTransition, RunNotFound, TrainerError
from services.trainer.core.runs import RunRecord, RunState, can_move

log = logging.getLogger(__name__)

IDEM_SK: Final = "idem"
# RunRecord fields stored as JSON strings (exact floats, NaN included; no Decimal conversions).
_JSON_FIELDS: Final = frozenset({"overrides", "config", "progress", "metrics"})
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"
_NO_TRANSACTIONS: Final = frozenset({"UnknownOperationException"})  # dynalite answers this


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _encode(name: str, value: Any) -> dict[str, Any] | None:
    """One RunRecord field (python-mode dump) as a DynamoDB attribute value; None for absent."""
    if value is None:
        return None
    if name in _JSON_FIELDS:
        return {"S": json.dumps(value, sort_keys=True, default=_json_default)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, dt.datetime):
        return {"S": value.isoformat()}
    if isinstance(value, str):  # StrEnum included
        return {"S": str(value)}
    raise TypeError(f"cannot store run field {name}={type(value).__name__}")


def _decode_number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _run_item(run: RunRecord) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": run_pk(run.run_id)}, "sk": {"S": RUN_SK}}
    for name, value in run.model_dump().items():
        encoded = _encode(name, value)
        if encoded is not None:
            item[name] = encoded
    return item


def _decode_run(item: dict[str, Any]) -> RunRecord:
    data: dict[str, Any] = {}
    for name in RunRecord.model_fields:
        attr = item.get(name)
        if attr is None:
            continue
        if "S" in attr:
            data[name] = json.loads(attr["S"]) if name in _JSON_FIELDS else attr["S"]
        elif "N" in attr:
            data[name] = _decode_number(attr["N"])
        elif "BOOL" in attr:
            data[name] = attr["BOOL"]
    return RunRecord.model_validate(data)


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    info = RunRecord.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:  # constraints such as ge=0 live here, not in the annotation
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _validated(name: str, value: Any) -> Any:
    """``value`` checked against the RunRecord field and dumped in python mode (ready for ``_encode``)."""
    if name not in RunRecord.model_fields:
        raise ValueError(f"RunRecord has no field {name!r}")
    adapter = _field_adapter(name)
    try:
        return adapter.dump_python(adapter.validate_python(value))
    except ValidationError as exc:
        raise ValueError(f"invalid value for run field {name}: {exc}") from None


def _update_expression(fields: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET``/``REMOVE`` clauses for RunRecord fields (None removes the attribute)."""
    sets: list[str] = []
    removes: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for i, (name, value) in enumerate(fields.items()):
        names[f"#f{i}"] = name
        encoded = _encode(name, _validated(name, value))
        if encoded is None:
            removes.append(f"#f{i}")
        else:
            values[f":f{i}"] = encoded
            sets.append(f"#f{i} = :f{i}")
    expression = " ".join(
        part
        for part in (
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        )
        if part
    )
    return expression, names, values


class DynamoRunStore:
    """``RunStore`` on the runs table.

    Idempotency: the key's item and the run item are written in one ``TransactWriteItems``, each on
    ``attribute_not_exists(pk)``, so one key never names two runs. Where the server has no transactions
    (dynalite, used in tests, answers ``UnknownOperationException``; detected on first use, or forced with
    ``transactions=False``), the key's item is put first, then the run's. The gap: a creator that dies
    between the two puts leaves a key naming a missing run; a later request with that key waits
    ``adopt_after_s`` for the run to appear, then stores its own run under that run id ("adopts" the key).
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        transactions: bool | None = None,
        adopt_after_s: float = 2.0,
        transaction_attempts: int = 5,
    ) -> None:
        self._client = client
        self._table = table_name(Table.RUNS, prefix)
        self._transactions = transactions
        self._adopt_after_s = adopt_after_s
        self._transaction_attempts = max(transaction_attempts, 1)

    @property
    def transactions(self) -> bool | None:
        """True or False once known (None until the first idempotent create in auto mode)."""
        return self._transactions

    # -- create ---------------------------------------------------------------------------------

    def create(self, run: RunRecord) -> tuple[RunRecord, bool]:
        key = run.idempotency_key
        if key is None:
            try:
                self._put_new(_run_item(run))
            except ClientError as exc:
                if _code(exc) == _CONDITION_FAILED:
                    raise TrainerError(f"run {run.run_id} already exists") from None
                raise
            return run, True
        if self._transactions is not False:
            result = self._create_transaction(run, key)
            if result is not None:
                return result
        return self._create_in_two_puts(run, key)

    def _idem_item(self, key: str, run: RunRecord) -> dict[str, Any]:
        return {
            "pk": {"S": f"idem#{key}"},
            "sk": {"S": IDEM_SK},
            "run_id": {"S": run.run_id},
            "created_at": {"S": run.created_at.isoformat()},
        }

    def _put_new(self, item: dict[str, Any]) -> None:
        self._client.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )

    def _create_transaction(self, run: RunRecord, key: str) -> tuple[RunRecord, bool] | None:
        """None when the server has no transactions (the caller falls back)."""
        condition = "attribute_not_exists(pk)"
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._idem_item(key, run),
                    "ConditionExpression": condition,
                }
            },
            {"Put": {"TableName": self._table, "Item": _run_item(run), "ConditionExpression": condition}},
        ]
        # The same token on boto3's own retries makes a retried, already applied transaction succeed.
        token = hashlib.blake2b(f"{key}\x00{run.run_id}".encode(), digest_size=16).hexdigest()
        for attempt in range(self._transaction_attempts):
            try:
                self._client.transact_write_items(TransactItems=items, ClientRequestToken=token)
            except ClientError as exc:
                code = _code(exc)
                if code in _NO_TRANSACTIONS:
                    if self._transactions is None:
                        log.warning("DynamoDB server has no transactions: idempotent creates use two puts")
                    self._transactions = False
                    return None
                if code != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return self._resolve_duplicate(key, run)
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise TrainerError(f"run {run.run_id} already exists") from None
                if "TransactionConflict" not in reasons or attempt + 1 == self._transaction_attempts:
                    raise
                time.sleep(0.05 * 2**attempt)  # another transaction holds one of the items
            else:
                self._transactions = True
                return run, True
        raise AssertionError("unreachable")

    def _create_in_two_puts(self, run: RunRecord, key: str) -> tuple[RunRecord, bool]:
        try:
            self._put_new(self._idem_item(key, run))
        except ClientError as exc:
            if _code(exc) != _CONDITION_FAILED:
                raise
            if self._idem_run_id(key) != run.run_id:  # not our own earlier, retried put
                return self._resolve_duplicate(key, run)
        try:
            self._put_new(_run_item(run))
        except ClientError as exc:
            if _code(exc) != _CONDITION_FAILED:
                raise
            existing = self.get(run.run_id)  # a retried put of ours, or a duplicate adopted the key
            if existing is None:
                raise
            return existing, existing == run
        return run, True

    def _idem_run_id(self, key: str) -> str:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"idem#{key}"}, "sk": {"S": IDEM_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:  # keys are never deleted
            raise TrainerError(f"idempotency key {key!r} vanished")
        return str(item["run_id"]["S"])

    def _resolve_duplicate(self, key: str, run: RunRecord) -> tuple[RunRecord, bool]:
        """The run an already used key names; adopt the key when its creator never stored the run."""
        owner = self._idem_run_id(key)
        deadline = time.monotonic() + self._adopt_after_s
        delay = 0.02
        while True:
            existing = self.get(owner)
            if existing is not None:
                return existing, existing == run  # equal: our own earlier attempt
            if time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        adopted = run.model_copy(update={"run_id": owner})
        log.warning("adopting idempotency key whose run was never stored", extra={"run_id": owner})
        try:
            self._put_new(_run_item(adopted))
        except ClientError as exc:
            if _code(exc) != _CONDITION_FAILED:
                raise
            existing = self.get(owner)
            if existing is None:
                raise
            return existing, False
        return adopted, True

    # -- read -----------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else _decode_run(item)

    # -- change ---------------------------------------------------------------------------------

    def move(self, run_id: str, source: set[RunState], target: RunState, **fields: Any) -> RunRecord | None:
        """Conditional on the stored state being in ``source``; None if it is not (or no such run).
        Raises ``InvalidTransition`` when some state in ``source`` can never move to ``target``."""
        if not source:
            return None
        impossible = sorted(s.value for s in source if not can_move(s, target))
        if impossible:
            raise InvalidTransition(f"a run cannot move from {impossible} to {target.value}")
        if {"run_id", "state"} & fields.keys():
            raise ValueError("move() sets state itself and never changes run_id")
        expression, names, values = _update_expression({"state": target, **fields})
        states = {f":s{i}": {"S": s.value} for i, s in enumerate(sorted(source))}
        return self._conditional_update(
            run_id,
            expression,
            f"#f0 IN ({', '.join(states)})",  # #f0 is "state", the first field
            names,
            {**values, **states},
        )

    def update(self, run_id: str, **fields: Any) -> None:
        """Set fields whatever the state (None removes one); ``RunNotFound`` for an unknown run."""
        if {"run_id", "state"} & fields.keys():
            raise ValueError("update() never changes run_id or state: use move()")
        if not fields:
            return
        expression, names, values = _update_expression(fields)
        if self._conditional_update(run_id, expression, "attribute_exists(pk)", names, values) is None:
            raise RunNotFound(run_id)

    def request_cancel(self, run_id: str) -> RunRecord | None:
        """A queued run is cancelled at once; a running one gets ``cancel_requested`` (its executor
        stops it); a finished run comes back unchanged; None for an unknown run."""
        for _ in range(4):  # states only move forward: a lost race is retried at most twice
            run = self.get(run_id)
            if run is None or run.state.finished:
                return run
            if run.state is RunState.QUEUED:
                moved = self.move(
                    run_id, {RunState.QUEUED}, RunState.CANCELLED, finished_at=_now(), cancel_requested=True
                )
            else:
                expression, names, values = _update_expression({"state": run.state, "cancel_requested": True})
                moved = self._conditional_update(run_id, expression, "#f0 = :f0", names, values)
            if moved is not None:
                return moved
        raise TrainerError(f"run {run_id} kept changing while being cancelled")

    # -- the outbox of TrainingCompleted -------------------------------------------------------------

    def unannounced(self) -> builtins.list[RunRecord]:
        """Finished runs with ``announced`` false (a filtered Scan, like ``list``), oldest first."""
        runs = [
            _decode_run(item)
            for page in self._client.get_paginator("scan").paginate(
                TableName=self._table,
                FilterExpression="sk = :sk AND begins_with(pk, :p) AND announced = :no",
                ExpressionAttributeValues={
                    ":sk": {"S": RUN_SK},
                    ":p": {"S": RUN_PREFIX},
                    ":no": {"BOOL": False},
                },
                ConsistentRead=True,
            )
            for item in page.get("Items", [])
        ]
        runs.sort(key=lambda r: (r.finished_at or r.created_at, r.run_id))
        return runs

    def claim_announcement(self, run_id: str, owner: str, now_ms: int, hold_ms: int) -> bool:
        """The claim is two attributes outside ``RunRecord`` (``announce_owner``, ``announce_until``
        in epoch ms), set only while ``announced`` is false and no unexpired claim exists."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
                UpdateExpression="SET announce_owner = :me, announce_until = :until",
                ConditionExpression="announced = :no AND "
                "(attribute_not_exists(announce_until) OR announce_until < :now)",
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":until": {"N": str(now_ms + hold_ms)},
                    ":now": {"N": str(now_ms)},
                    ":no": {"BOOL": False},
                },
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def mark_announced(self, run_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
            UpdateExpression="SET announced = :yes REMOVE announce_owner, announce_until",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )

    def _conditional_update(
        self, run_id: str, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> RunRecord | None:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
            "UpdateExpression": expression,
            "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            response = self._client.update_item(**kwargs)
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return None
            raise
        return _decode_run(response["Attributes"])

    # -- list (last: the method's name shadows the builtin in the class body) --------------------

    def list(self, dataset: str | None = None, limit: int = 100) -> builtins.list[RunRecord]:
        """Newest first. A filtered Scan of the whole table for now (runs are few); a GSI on
        (dataset, created_at) is the fix when they are not."""
        condition = "sk = :sk AND begins_with(pk, :p)"
        values: dict[str, Any] = {":sk": {"S": RUN_SK}, ":p": {"S": RUN_PREFIX}}
        if dataset is not None:
            condition += " AND dataset = :d"
            values[":d"] = {"S": dataset}
        runs = [
            _decode_run(item)
            for page in self._client.get_paginator("scan").paginate(
                TableName=self._table,
                FilterExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            )
            for item in page.get("Items", [])
        ]
        runs.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        return runs[: max(limit, 0)]


class DatasetState:
    """The per-dataset counters the writer maintains, as the scheduler reads and resets them."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._table = table_name(Table.STATE, prefix)

    def read(self, dataset: str) -> tuple[int, dt.datetime | None]:
        """``(records_since_training, last_training_at)``; ``(0, None)`` for a dataset never seen."""
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": dataset_pk(dataset)}}, ConsistentRead=True
        ).get("Item", {})
        count = int(item["records_since_training"]["N"]) if "records_since_training" in item else 0
        last = item.get("last_training_at", {}).get("S")
        return count, (dt.datetime.fromisoformat(last) if last else None)

    def mark_training_started(self, dataset: str, consumed: int, now: dt.datetime) -> None:
        """Subtract the ``consumed`` records the run was started for (never SET 0: records the writer
        counts while the run starts must still count toward the next one)."""
        if consumed < 0:
            raise ValueError("consumed must be >= 0")
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": dataset_pk(dataset)}},
            UpdateExpression="ADD records_since_training :minus SET last_training_at = :now",
            ExpressionAttributeValues={":minus": {"N": str(-consumed)}, ":now": {"S": now.isoformat()}},
        )


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    dataset: str
    owner: str
    expires_at_ms: int
    run_id: str | None = None

    def expired(self, now_ms: int) -> bool:
        return self.expires_at_ms < now_ms


class LeaseStore:
    """One scheduler replica at a time per dataset: a lease item with an owner and an expiry.

    Times are wall-clock epoch milliseconds of the replica writing them, so replicas' clocks must agree
    to well within the TTL (NTP: milliseconds); a replica whose clock runs ahead by ``skew`` may take a
    lease ``skew`` early, so keep ``ttl_s`` >> expected skew and renew well before expiry.
    """

    def __init__(self, client: Any, prefix: str, owner: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name(Table.STATE, prefix)
        self._owner = owner
        self._clock = clock

    @property
    def owner(self) -> str:
        return self._owner

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _key(self, dataset: str) -> dict[str, Any]:
        return {"pk": {"S": lease_pk(dataset)}}

    def acquire(self, dataset: str, ttl_s: float, run_id: str | None = None) -> bool:
        """Take the lease if free, expired or already ours (then its expiry and run id are reset)."""
        now = self._now_ms()
        item = {
            **self._key(dataset),
            "owner": {"S": self._owner},
            "expires_at": {"N": str(now + int(ttl_s * 1000))},
            "acquired_at": {"N": str(now)},
        }
        if run_id is not None:
            item["run_id"] = {"S": run_id}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #exp < :now OR #owner = :me",
                ExpressionAttributeNames={"#exp": "expires_at", "#owner": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": self._owner}},
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def renew(self, dataset: str, ttl_s: float) -> bool:
        """Push the expiry out; False when the lease is not ours (any more)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(dataset),
                UpdateExpression="SET #exp = :exp",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#exp": "expires_at", "#owner": "owner"},
                ExpressionAttributeValues={
                    ":exp": {"N": str(self._now_ms() + int(ttl_s * 1000))},
                    ":me": {"S": self._owner},
                },
            )
        except ClientError as exc:
            if _code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def release(self, dataset: str) -> None:
        """Give the lease up if it is ours; a lease someone else holds is left alone."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(dataset),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": self._owner}},
            )
        except ClientError as exc:
            if _code(exc) != _CONDITION_FAILED:
                raise

    def holder(self, dataset: str, include_expired: bool = False) -> LeaseHolder | None:
        """Who holds the lease now (None if nobody, or only an expired holder unless asked for)."""
        item = self._client.get_item(TableName=self._table, Key=self._key(dataset), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        lease = LeaseHolder(
            dataset=dataset,
            owner=item["owner"]["S"],
            expires_at_ms=int(item["expires_at"]["N"]),
            run_id=item.get("run_id", {}).get("S"),
        )
        if lease.expired(self._now_ms()) and not include_expired:
            return None
        return lease
