"""The sources file (``sources.yaml``): one entry per source, validated before anything runs.

Secrets never sit in the file: any string may be ``${ENV_VAR}``, and any field ``x`` may instead be
given as ``x_env: VAR`` (read from the environment) or ``x_file: /run/secrets/x`` (a mounted secret).
Errors name the source and the field: ``source 'orders' (sql), field 'cursor': ...``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, TypeAdapter, ValidationError, model_validator

from services.collector.core.errors import ConfigError
from services.collector.core.http import HttpSourceConfig
from services.collector.core.source import SourceBase, _Config


class SqlSourceConfig(SourceBase):
    kind: Literal["sql"]
    url: SecretStr = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db.")
    table: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    columns: list[str] | None = Field(default=None, description="Columns to collect (table mode).")
    query: str | None = Field(default=None, description="A SELECT to collect from instead of a table.")
    key: list[str] = Field(
        default_factory=list, description="Primary key columns: the record id and the cursor's tie-break."
    )
    cursor: str | None = Field(
        default=None, description="Increasing column (updated_at, id); default: the key itself."
    )
    lag_s: float = Field(
        default=0.0, ge=0, description="Only read rows whose timestamp cursor is older than this."
    )
    cursor_type: Literal["auto", "timestamp"] = Field(
        default="auto",
        description="auto: as the column is declared; timestamp: the cursor holds timestamps whatever its "
        "declared type (SQLite TEXT with ISO 8601 values), so 'lag_s' applies.",
    )
    cursor_timezone: Literal["naive_utc", "aware"] = Field(
        default="naive_utc", description="How timestamp cursors are stored (query mode; tables reflect it)."
    )
    initial: Literal["snapshot", "latest"] = Field(
        default="snapshot", description="First run: read every existing row, or only rows from now on."
    )
    batch_size: int = Field(default=5000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' and 'query'")
        if self.query is not None and not self.key:
            raise ValueError("a 'query' source needs 'key' (the columns that identify a row)")
        if self.query is not None and self.columns is not None:
            raise ValueError("'columns' applies to 'table'; select the columns in the query instead")
        return self


class MultilineConfig(_Config):
    start_pattern: str | None = Field(default=None, description="A line matching this starts a record.")
    continuation_pattern: str | None = Field(
        default=None, description=r"A line matching this continues the previous record (e.g. '^\s')."
    )
    max_lines: int = Field(default=500, ge=2)
    flush_after_s: float = Field(default=2.0, gt=0, description="Emit the last record after this idle time.")

    @model_validator(mode="after")
    def _one_pattern(self) -> MultilineConfig:
        if (self.start_pattern is None) == (self.continuation_pattern is None):
            raise ValueError("give exactly one of 'start_pattern' and 'continuation_pattern'")
        for pattern in (self.start_pattern, self.continuation_pattern):
            if pattern is not None:
                _compile(pattern)
        return self


class LogSourceConfig(SourceBase):
    kind: Literal["log"]
    paths: list[str] = Field(min_length=1, description="Glob patterns; include rotated names (app.log*).")
    exclude: list[str] = Field(default_factory=list, description="Glob patterns to skip (e.g. *.gz).")
    parser: Literal["plain", "json", "regex"] = "plain"
    pattern: str | None = Field(default=None, description="Regex with named groups (parser: regex).")
    message_field: str = Field(default="message", description="Field that holds the text (json, regex).")
    multiline: MultilineConfig | None = None
    encoding: str = "utf-8"
    fingerprint_bytes: int = Field(
        default=1024,
        ge=16,
        description="A file is known by a hash of its first line (at most this many bytes).",
    )
    start_at: Literal["beginning", "end"] = Field(
        default="beginning", description="Where to start in a file seen for the first time."
    )
    follow_symlinks: bool = Field(
        default=False,
        description="Read symlinks' targets; off, a link matching a glob is skipped (it may point anywhere).",
    )
    read_chunk_bytes: int = Field(default=1 << 20, ge=4096)
    max_line_bytes: int = Field(default=1 << 20, ge=1024, description="Longer lines are split.")

    @model_validator(mode="after")
    def _parser_settings(self) -> LogSourceConfig:
        if self.parser == "regex":
            if self.pattern is None:
                raise ValueError("parser 'regex' needs 'pattern'")
            if not _compile(self.pattern).groupindex:
                raise ValueError("'pattern' needs named groups, e.g. (?P<level>\\w+)")
        elif self.pattern is not None:
            raise ValueError("'pattern' applies to parser 'regex' only")
        try:
            "".encode(self.encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {self.encoding!r}") from exc
        return self


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc


SourceConfig = Annotated[SqlSourceConfig | LogSourceConfig | HttpSourceConfig, Field(discriminator="kind")]
_SOURCE: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


class SourcesConfig(_Config):
    sources: list[SourceConfig]


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_secrets(
    raw: Any, environ: Mapping[str, str], read_file: Callable[[str], str], where: str = ""
) -> Any:
    """Expand ``${VAR}`` in strings and ``x_env`` / ``x_file`` keys into ``x`` (recursively)."""
    if isinstance(raw, str):

        def expand(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return environ[name]

        return _ENV_REF.sub(expand, raw)
    if isinstance(raw, list):
        return [resolve_secrets(v, environ, read_file, where) for v in raw]
    if not isinstance(raw, dict):
        return raw
    resolved: dict[str, Any] = {}
    for key, value in raw.items():
        field = f"{where}, field {key!r}" if where else f"field {key!r}"
        if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
            if value not in environ:
                raise ConfigError(f"{field}: environment variable {value} is not set")
            resolved[key.removesuffix("_env")] = environ[value]
        elif isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
            try:
                resolved[key.removesuffix("_file")] = read_file(value).strip()
            except OSError as exc:
                raise ConfigError(f"{field}: cannot read secret file {value}: {exc.strerror}") from exc
        else:
            resolved[key] = resolve_secrets(value, environ, read_file, where)
    return resolved


def parse_sources(raw: Any, environ: Mapping[str, str], read_file: Callable[[str], str]) -> SourcesConfig:
    """Validate a parsed sources file; every error names its source and field."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list):
        raise ConfigError("the sources file needs a top-level 'sources:' list")
    if extra := set(raw) - {"sources"}:
        raise ConfigError(f"unknown top-level keys: {sorted(extra)}")
    sources: list[SourceConfig] = []
    names: set[str] = set()
    for index, entry in enumerate(raw["sources"]):
        label = _label(entry, index)
        resolved = resolve_secrets(entry, environ, read_file, label)
        try:
            source = _SOURCE.validate_python(resolved)
        except ValidationError as exc:
            raise ConfigError(_describe(label, exc)) from None
        if source.name in names:
            raise ConfigError(f"{label}: the name {source.name!r} is used twice")
        names.add(source.name)
        sources.append(source)
    return SourcesConfig(sources=sources)


def _label(entry: Any, index: int) -> str:
    if isinstance(entry, dict):
        return f"source {entry.get('name', f'#{index + 1}')!r} ({entry.get('kind', 'no kind')})"
    return f"source #{index + 1}"


def _describe(label: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"] if part not in ("sql", "log", "http")]
        field = ".".join(loc) or "(source)"
        problems.append(f"{label}, field {field!r}: {error['msg']}")
    return "; ".join(problems)
