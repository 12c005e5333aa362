"""The anonymize step: detect PII in the content and the scanned fields of a batch, replace it.

Detection runs once per batch over every text (content and string fields), so the NER model sees
many short windows per call. If the batch fails, records are retried one by one and only the record
that still fails is dead-lettered (``recognizer_error``): the stream goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from pydantic import JsonValue

from services.sanitizer.core.detect import Detector
from services.sanitizer.core.entities import Span
from services.sanitizer.core.pipeline import Dropped, Outcome, Work
from services.sanitizer.core.policy import FieldAction, Operator, SanitizerPolicy

log = logging.getLogger(__name__)


class Replacer(Protocol):
    """Applies the configured operators (pseudonym, redact, mask, hash, encrypt, keep)."""

    def replace(self, text: str, spans: Sequence[Span]) -> str: ...

    def replace_value(self, value: str, entity: str, operator: Operator | None) -> str: ...


_Scan = tuple[int, tuple[str, ...]]  # (record index in batch, field path as keys; () is the content)


class PiiAnonymizer:
    name = "anonymize"

    def __init__(self, detector: Detector, replacer: Replacer, policy: SanitizerPolicy, key_id: str) -> None:
        self.detector = detector
        self.replacer = replacer
        self.policy = policy
        self.key_id = key_id

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
        texts: list[str] = []
        where: list[_Scan] = []
        new_fields: list[dict[str, JsonValue]] = []
        counts: list[Counter[str]] = []
        for i, work in enumerate(batch):
            counts.append(Counter())
            if work.content:
                texts.append(work.content)
                where.append((i, ()))
            new_fields.append(self._apply_field_policies(work, i, texts, where, counts[i]))
        spans = self.detector.detect_batch(texts)
        contents = [work.content for work in batch]
        for (i, path), text, found in zip(where, texts, spans, strict=True):
            counts[i].update(span.entity for span in found)
            replaced = self.replacer.replace(text, found) if found else text
            if path == ():
                contents[i] = replaced
            else:
                _set_path(new_fields[i], path, replaced)
        for work, content, fields, count in zip(batch, contents, new_fields, counts, strict=True):
            work.content, work.fields = content, fields
            work.pii.update(count)
            work.metadata["pseudonym_key_id"] = self.key_id
        return list(batch)

    def _apply_field_policies(
        self, work: Work, index: int, texts: list[str], where: list[_Scan], counts: Counter[str]
    ) -> dict[str, JsonValue]:
        """Drop, keep and whole-value replacements now; string values to scan are queued."""
        source = work.record.source

        def walk(value: JsonValue, path: tuple[str, ...]) -> tuple[bool, JsonValue]:
            if isinstance(value, dict):
                out: dict[str, JsonValue] = {}
                for key, item in value.items():
                    keep, new = walk(item, (*path, key))
                    if keep:
                        out[key] = new
                return True, out
            rule = self.policy.field_policy(source, ".".join(path))
            if rule.action is FieldAction.DROP:
                return False, None
            if rule.action is FieldAction.KEEP or value is None or isinstance(value, bool):
                return True, value
            if rule.action is FieldAction.REPLACE:
                if isinstance(value, list):
                    return True, [
                        self._replace_whole(item, rule.entity, rule.operator, counts) for item in value
                    ]
                return True, self._replace_whole(value, rule.entity, rule.operator, counts)
            if isinstance(value, list):
                return True, [
                    walk(item, path)[1] if isinstance(item, dict) else self._scan_inline(item, counts)
                    for item in value
                ]
            if isinstance(value, str) and value:
                texts.append(value)
                where.append((index, path))
            return True, value

        kept, result = walk(dict(work.fields), ())
        assert kept and isinstance(result, dict)  # noqa: S101 - the root is always a kept dict
        return result

    def _replace_whole(
        self, value: JsonValue, entity: str, operator: Operator | None, counts: Counter[str]
    ) -> JsonValue:
        if value is None or value == "" or operator is Operator.KEEP:
            return value
        counts[entity] += 1
        return self.replacer.replace_value(str(value), entity, operator)

    def _scan_inline(self, item: JsonValue, counts: Counter[str]) -> JsonValue:
        """A string inside a list: scanned on its own (lists of strings are rare and short)."""
        if not isinstance(item, str) or not item:
            return item
        found = self.detector.detect(item)
        counts.update(span.entity for span in found)
        return self.replacer.replace(item, found) if found else item


def _set_path(fields: dict[str, JsonValue], path: tuple[str, ...], value: str) -> None:
    node: dict[str, JsonValue] = fields
    for key in path[:-1]:
        child = node[key]
        assert isinstance(child, dict)  # noqa: S101 - the path came from walking this dict
        node = child
    node[path[-1]] = value
