"""The anonymize step: detect PII in the content, fields and metadata of a batch, replace it.

Detection runs once per batch over every text (the content; string values, string keys and long
integers of the fields and the metadata), so the NER model sees many short windows per call. If the
batch fails, records are retried one by one and only the record that still fails is dead-lettered
(``recognizer_error``): the stream goes on.

Fields are walked to any depth (objects, lists, lists of lists). A field's policy is looked up by its
dotted path without list indexes (``items.email`` for ``items[3].email``) and holds for everything
below it unless a deeper path has its own rule. Metadata gets the same treatment: ``metadata.key``
(the primary key of a SQL row) follows the field policies of its columns; the rest (table, path,
url...) is scanned as text, while its numbers (offsets, line counts) are positions and stay.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeAlias

from pydantic import JsonValue

from libs.pii.detect import Detector, resolve
from libs.pii.entities import SECRETS, STRUCTURED, Span
from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import FieldAction, FieldPolicy, Operator, SanitizerPolicy

log = logging.getLogger(__name__)

USERNAME: Final = "USERNAME"  # the account in a home directory path (/home/<user>/...)
MIN_NUMBER_DIGITS: Final = 6  # shorter integers (counts, sizes, ports) are not scanned
KEPT_REFUSED: Final = STRUCTURED | SECRETS  # what a field with policy `keep` still does not keep

_SCAN: Final = FieldPolicy()
_HOME: Final = re.compile(r"(?:^|(?<=[/\\]))(?:home|Users)[/\\](?P<user>[^/\\\s:]+)")
_SHARED_HOMES: Final = frozenset({"ubuntu", "ec2-user", "runner", "shared", "public", "default", "all users"})
_PLAIN_KEY: Final = re.compile(r"[a-z][a-z_]*")  # snake_case without digits: nothing to find
_CONTEXT_CHARS: Final = 40


class Replacer(Protocol):
    """Applies the configured operators (pseudonym, redact, mask, hash, encrypt, keep)."""

    def replace(self, text: str, spans: Sequence[Span]) -> str: ...

    def replace_value(self, value: str, entity: str, operator: Operator | None) -> str: ...


@dataclass(eq=False)
class _Slot:
    """A value or key waiting for the detector; ``value`` is set once the batch is scanned."""

    record: int  # index in the batch
    text: str  # what the detector reads: ``context: value`` (the field name helps it)
    original: str | int  # what stays when nothing is found
    start: int = 0  # where the value starts in ``text``
    only: frozenset[str] | None = None  # the entities that count (None: all)
    usernames: bool = True  # home directories in paths
    value: JsonValue = None


_Key: TypeAlias = "str | _Slot"
_Tree: TypeAlias = "str | int | float | bool | None | _Slot | list[_Tree] | dict[_Key, _Tree]"


@dataclass(frozen=True)
class _Scope:
    """Where a walk is: the record's fields, or its metadata (``key`` follows the field policies)."""

    record: int
    source: str
    metadata: bool


class PiiAnonymizer:
    name = "anonymize"

    def __init__(self, detector: Detector, replacer: Replacer, policy: SanitizerPolicy, key_id: str) -> None:
        self.detector = detector
        self.replacer = replacer
        self.policy = policy
        self.key_id = key_id
        self._slots: list[_Slot] = []  # of the batch being processed
        self._counts: list[Counter[str]] = []

    def process_batch(self, batch: Sequence[Work]) -> list[Outcome]:
        try:
            return self._process(batch)
        except Exception as exc:  # noqa: BLE001 - retried one by one below
            if len(batch) == 1:
                return [self._failed(batch[0], exc)]
        outcomes: list[Outcome] = []
        for work in batch:  # isolate the record that makes the batch fail
            try:
                outcomes.extend(self._process([work]))
            except Exception as exc:  # noqa: BLE001 - one record's failure must not stop the stream
                outcomes.append(self._failed(work, exc))
        return outcomes

    def _failed(self, work: Work, exc: Exception) -> Dropped:
        # The exception's type only: its message could quote the text being scanned.
        log.warning(
            "recognizer failed on a record", extra={"record_id": work.record.id, "error": type(exc).__name__}
        )
        return Dropped(work.record, "recognizer_error", type(exc).__name__, dead_letter=True)

    def _process(self, batch: Sequence[Work]) -> list[Outcome]:
        """All or nothing: the works are only changed once every text of the batch is done."""
        self._slots = []
        self._counts = [Counter() for _ in batch]
        contents: list[_Slot | None] = []
        trees: list[tuple[_Tree, _Tree]] = []
        for i, work in enumerate(batch):
            content = _Slot(i, work.content, work.content, usernames=False) if work.content else None
            if content is not None:
                self._slots.append(content)
            contents.append(content)
            source = work.record.source
            walked_fields = self._walk(dict(work.fields), (), _SCAN, _Scope(i, source, metadata=False))
            walked_meta = self._walk(dict(work.source_metadata), (), _SCAN, _Scope(i, source, metadata=True))
            trees.append((walked_fields[1], walked_meta[1]))
        found = self.detector.detect_batch([slot.text for slot in self._slots])
        for slot, spans in zip(self._slots, found, strict=True):
            slot.value = self._replaced(slot, spans)
        filled = [(_fill(fields), _fill(metadata)) for fields, metadata in trees]
        for work, content, (fields, metadata), count in zip(
            batch, contents, filled, self._counts, strict=True
        ):
            assert isinstance(fields, dict) and isinstance(metadata, dict)  # noqa: S101 - walked from dicts
            if content is not None:
                work.content = str(content.value)
            work.fields, work.source_metadata = fields, metadata
            work.pii.update(count)
            work.metadata["pseudonym_key_id"] = self.key_id
        return list(batch)

    # -- walking a structure: policies now, texts queued for the detector ---------------------------

    def _rule(self, path: tuple[str, ...], scope: _Scope) -> FieldPolicy | None:
        if not path:
            return None
        if not scope.metadata:
            return self.policy.field_rule(scope.source, ".".join(path))
        if path[0] == "key" and len(path) > 1:
            return self.policy.field_rule(scope.source, ".".join(path[1:]))
        return None

    def _walk(
        self, value: JsonValue, path: tuple[str, ...], inherited: FieldPolicy, scope: _Scope
    ) -> tuple[bool, _Tree]:
        """``(False, None)`` when the value is dropped, else ``(True, value with slots)``."""
        rule = self._rule(path, scope) or inherited
        if rule.action is FieldAction.DROP:
            return False, None
        if isinstance(value, dict):
            out: dict[_Key, _Tree] = {}
            for key, item in value.items():
                keep, new = self._walk(item, (*path, key), rule, scope)
                if keep:
                    out[self._key(key, rule, scope)] = new
            return True, out
        if isinstance(value, list):
            return True, [self._walk(item, path, rule, scope)[1] for item in value]
        if value is None or isinstance(value, bool | float) or value == "":
            return True, value
        if rule.action is FieldAction.REPLACE:
            return True, self._replace_whole(value, rule, scope.record)
        if isinstance(value, int) and (
            len(str(abs(value))) < MIN_NUMBER_DIGITS or (scope.metadata and path[:1] != ("key",))
        ):
            return True, value  # small numbers, and positions in the metadata (offsets, lines)
        only = KEPT_REFUSED if rule.action is FieldAction.KEEP else None
        return True, self._queue(value, path[-1] if path else "", only, scope.record)

    def _key(self, key: str, rule: FieldPolicy, scope: _Scope) -> _Key:
        if not key or _PLAIN_KEY.fullmatch(key):
            return key
        only = KEPT_REFUSED if rule.action is FieldAction.KEEP else None
        return self._queue(key, "", only, scope.record)

    def _queue(self, value: str | int, name: str, only: frozenset[str] | None, record: int) -> _Slot:
        context = re.sub(r"[_\W]+", " ", name)[:_CONTEXT_CHARS].strip()
        prefix = f"{context}: " if context else ""
        slot = _Slot(record, f"{prefix}{value}", value, len(prefix), only)
        self._slots.append(slot)
        return slot

    def _replace_whole(self, value: str | int, rule: FieldPolicy, record: int) -> str | int:
        if rule.operator is Operator.KEEP:
            return value
        self._counts[record][rule.entity] += 1
        return self.replacer.replace_value(str(value), rule.entity, rule.operator)

    # -- after detection -------------------------------------------------------------------------

    def _replaced(self, slot: _Slot, found: Sequence[Span]) -> JsonValue:
        spans = [
            Span(max(s.start, slot.start) - slot.start, s.end - slot.start, s.entity, s.score)
            for s in found
            if s.end > slot.start and (slot.only is None or s.entity in slot.only)
        ]
        if slot.usernames:
            spans = _with_usernames(str(slot.original), spans)
        if not spans:
            return slot.original
        counts = self._counts[slot.record]
        if isinstance(slot.original, int):  # the whole number is one value
            entity = max(spans, key=lambda s: s.end - s.start).entity
            counts[entity] += 1
            return self.replacer.replace_value(str(slot.original), entity, None)
        counts.update(span.entity for span in spans)
        return self.replacer.replace(slot.original, spans)


def home_users(text: str) -> list[Span]:
    """The account names of home directories in ``text`` (``/home/<user>``, ``C:\\Users\\<user>``)."""
    return [
        Span(m.start("user"), m.end("user"), USERNAME)
        for m in _HOME.finditer(text)
        if m.group("user").lower() not in _SHARED_HOMES
    ]


def _with_usernames(text: str, spans: list[Span]) -> list[Span]:
    users = home_users(text) if "/" in text or "\\" in text else []
    if not users:
        return spans
    return resolve([(s, 100) for s in spans] + [(u, 10) for u in users])  # the detector's findings win


def _fill(node: _Tree) -> JsonValue:
    """The walked structure with every slot replaced by its (possibly anonymized) value."""
    if isinstance(node, _Slot):
        return node.value
    if isinstance(node, list):
        return [_fill(item) for item in node]
    if isinstance(node, dict):
        out: dict[str, JsonValue] = {}
        for key, item in node.items():
            name = str(key.value) if isinstance(key, _Slot) else key
            unique, n = name, 2
            while unique in out:  # two keys replaced by the same token (``redact``): keep both
                unique, n = f"{name}#{n}", n + 1
            out[unique] = _fill(item)
        return out
    return node
