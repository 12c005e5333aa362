"""SQL source: a table or a query read incrementally through SQLAlchemy (any dialect)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import JsonValue
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from libs.schemas.records import RecordKind
from services.collector.core.config import SqlSourceConfig
from services.collector.core.errors import ConfigError, ConversionError, SourceUnavailable
from services.collector.core.items import Checkpoint, Item, Reject
from services.collector.core.jsonsafe import row_to_fields
from services.collector.core.records import RecordFactory, utc_now
from services.collector.core.sql import CURSOR_PARTITION, CursorPlan, upper_bound
from services.collector.core.template import ContentTemplate, default_content

log = logging.getLogger(__name__)


class SqlSource:
    def __init__(
        self,
        config: SqlSourceConfig,
        engine: Engine | None = None,
        clock: Callable[[], Any] = utc_now,
    ) -> None:
        self.name = config.name
        self.config = config
        self._engine = engine
        self._clock = clock
        self._factory = RecordFactory(config.name, RecordKind.SQL, config.max_record_bytes, clock)
        self._template = ContentTemplate(config.content_template) if config.content_template else None
        self._selectable: sa.FromClause | None = None
        self._plan: CursorPlan | None = None
        self._aware = config.cursor_timezone == "aware"
        self._last: tuple[Any, ...] | None = None
        self._text_timestamps = False  # a timestamp cursor stored as text (cursor_type: timestamp)
        self._label = config.table or "query"

    # -- opening: reflect the table, check the columns, restore the cursor --------------------------

    def open(self, checkpoint: Checkpoint) -> None:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.config.url.get_secret_value(), pool_pre_ping=True, pool_size=1, max_overflow=1
            )
        try:
            self._selectable, self._plan = self._describe(self._engine)
            self._last = self._plan.resume_after(checkpoint.get(CURSOR_PARTITION))
            if self._last is None and self.config.initial == "latest" and CURSOR_PARTITION not in checkpoint:
                self._last = self._newest_row(self._engine)
        except SQLAlchemyError as exc:
            raise SourceUnavailable(f"source {self.name!r}: cannot open: {_brief(exc)}") from exc
        except ConversionError as exc:
            raise ConfigError(f"source {self.name!r}: {exc}") from exc
        log.info(
            "sql source opened",
            extra={
                "source": self.name,
                "order": list(self._plan.order_columns),
                "resuming": self._last is not None,
            },
        )

    def _describe(self, engine: Engine) -> tuple[sa.FromClause, CursorPlan]:
        config = self.config
        if config.table is not None:
            table = sa.Table(config.table, sa.MetaData(), schema=config.db_schema, autoload_with=engine)
            key = tuple(config.key) or tuple(str(c.name) for c in table.primary_key.columns)
            if not key:
                raise ConfigError(f"source {self.name!r}: table {config.table} has no primary key; set 'key'")
            cursor = config.cursor or (key[0] if len(key) == 1 else "")
            if not cursor:
                raise ConfigError(f"source {self.name!r}: set 'cursor' (the key has several columns)")
            wanted = list(config.columns or [str(c.name) for c in table.columns])
            needed = [*wanted, *(c for c in (cursor, *key) if c not in wanted)]
            missing = [c for c in needed if c not in table.c]
            if missing:
                raise ConfigError(f"source {self.name!r}: table {config.table} has no column(s) {missing}")
            declared = table.c[cursor].type
            if isinstance(declared, sa.DateTime):
                self._aware = bool(declared.timezone)
            elif config.cursor_type == "timestamp":
                if not isinstance(declared, sa.String):
                    raise ConfigError(
                        f"source {self.name!r}: cursor_type: timestamp needs a timestamp or text column; "
                        f"{cursor} is {declared}"
                    )
                self._text_timestamps = True
            elif config.lag_s > 0:
                raise ConfigError(
                    f"source {self.name!r}: 'lag_s' needs a timestamp cursor; {cursor} is declared "
                    f"{declared}: if it holds ISO 8601 timestamps, set 'cursor_type: timestamp'"
                )
            selectable: sa.FromClause = sa.select(*(table.c[c] for c in needed)).subquery("src")
        else:
            key = tuple(config.key)
            cursor = config.cursor or (key[0] if len(key) == 1 else "")
            if not cursor:
                raise ConfigError(f"source {self.name!r}: set 'cursor' (the key has several columns)")
            columns: list[sa.ColumnClause[Any]] = [sa.column(c) for c in dict.fromkeys((cursor, *key))]
            # a query's column types are unknown: compared as timestamps only when declared so
            self._text_timestamps = config.cursor_type == "timestamp"
            assert config.query is not None  # noqa: S101 - guaranteed by the config validator
            selectable = sa.text(config.query).columns(*columns).subquery("src")
        return selectable, CursorPlan(cursor, key)

    def _newest_row(self, engine: Engine) -> tuple[Any, ...] | None:
        assert self._selectable is not None and self._plan is not None  # noqa: S101
        order = [_raw(self._selectable.c[c]) for c in self._plan.order_columns]
        stmt = sa.select(*order).order_by(*(c.desc() for c in order)).limit(1)
        with engine.connect() as conn:
            row = conn.execute(stmt).first()
        return tuple(row) if row is not None else None

    # -- polling: keyset pages until a short page says we have caught up ----------------------------

    def poll(self) -> Iterator[Item]:
        if self._engine is None or self._selectable is None or self._plan is None:
            raise SourceUnavailable(f"source {self.name!r} is not open")
        plan, src = self._plan, self._selectable
        # The order columns are compared and checkpointed as the driver returns them, untyped: a typed
        # round trip can change their text form (SQLite keeps timestamps as text, written by whichever
        # client inserted them) and then a tie at the cursor would compare unequal.
        order = [_raw(src.c[c]) for c in plan.order_columns]
        labels = [f"_tuneline_order_{i}" for i in range(len(order))]
        upper = upper_bound(self._clock(), self.config.lag_s, self._aware)
        # A query's own columns are not known in advance, so it is read with `*`.
        columns: list[Any] = [src] if self.config.table is not None else [sa.literal_column("*")]
        ordered = (c.label(n) for c, n in zip(order, labels, strict=True))
        base = sa.select(*columns, *ordered).select_from(src)
        while True:
            stmt = base
            if self._last is not None:
                stmt = stmt.where(_after(order, self._last, self._engine.dialect.name))
            if upper is not None:
                stmt = stmt.where(self._at_most(src.c[plan.cursor], upper))
            stmt = stmt.order_by(*order).limit(self.config.batch_size)
            try:
                with self._engine.connect() as conn:
                    result = conn.execute(stmt)
                    # Plain str names: SQLAlchemy's label type is a str subclass orjson refuses.
                    names = [str(name) for name in result.keys()]
                    rows = result.all()
            except SQLAlchemyError as exc:
                raise SourceUnavailable(f"source {self.name!r}: query failed: {_brief(exc)}") from exc
            # Row layout: the selected columns, then the untyped order columns.
            width = len(names) - len(labels)
            columns = names[:width]
            key_at = [columns.index(k) for k in plan.key]
            for row in rows:
                order_values = tuple(row[width:])
                yield self._item(columns, row[:width], [row[i] for i in key_at], order_values)
                self._last = order_values
            if len(rows) < self.config.batch_size:
                return

    def _at_most(self, cursor: sa.ColumnElement[Any], bound: dt.datetime) -> sa.ColumnElement[bool]:
        """``cursor <= bound``; a text cursor is compared as a timestamp, not as text (``T`` or a space,
        an offset or none: the same instant in other spellings would compare out of order)."""
        if not self._text_timestamps:
            return cursor <= bound
        assert self._engine is not None  # noqa: S101
        if self._engine.dialect.name == "sqlite":
            # strftime reads every ISO 8601 spelling, offsets included, as UTC text with milliseconds
            utc = bound.astimezone(dt.UTC) if bound.tzinfo else bound
            text = utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"
            return sa.func.strftime("%Y-%m-%d %H:%M:%f", cursor) <= text
        return sa.cast(cursor, sa.DateTime(timezone=self._aware)) <= bound

    def _item(
        self, columns: list[str], values: Sequence[Any], key_values: list[Any], order_values: tuple[Any, ...]
    ) -> Item:
        assert self._plan is not None  # noqa: S101
        plan = self._plan
        position = (CURSOR_PARTITION, plan.position(order_values))
        try:
            fields = row_to_fields(columns, values)
            key = {name: fields[name] for name in plan.key}
        except ConversionError as exc:
            return Reject("conversion_failed", str(exc), position, where={"table": self._label})
        metadata: dict[str, JsonValue] = {"table": self._label, "key": key}
        content = self._template.render(fields) if self._template else default_content(fields)
        return self._factory.build(plan.natural_key(key_values), content, fields, metadata, position)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


# Dialects whose planners seek an index on (a, b) for the row comparison (a, b) > (x, y).
_ROW_VALUE_DIALECTS = frozenset({"postgresql", "sqlite"})


def _after(
    order: Sequence[sa.ColumnElement[Any]], last: tuple[Any, ...], dialect: str
) -> sa.ColumnElement[bool]:
    """The rows after ``last`` in ``order``: ``(c, k...) > (:c, :k...)`` where the dialect plans a row
    comparison as an index range, else the portable ``c >= :c AND (c > :c OR (k...) > (:k...))``."""
    values = [sa.literal(v, sa.types.NullType()) for v in last]
    if len(order) == 1:
        return order[0] > values[0]
    if dialect in _ROW_VALUE_DIALECTS:
        return sa.tuple_(*order) > sa.tuple_(*values)
    rest = order[1] > values[1] if len(order) == 2 else sa.tuple_(*order[1:]) > sa.tuple_(*values[1:])
    return sa.and_(order[0] >= values[0], sa.or_(order[0] > values[0], rest))


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.type_coerce(column, sa.types.NullType())


def _brief(exc: SQLAlchemyError) -> str:
    # The first line of the driver's message; SQLAlchemy appends the statement and parameters,
    # and parameters are row values.
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
