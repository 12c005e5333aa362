"""The sources file: secrets from env and files, errors that name the source and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.collector.core.config import LogSourceConfig, SourceConfig, SqlSourceConfig, parse_sources
from services.collector.core.errors import ConfigError
from services.collector.sources import load_sources

ENV = {"PG_URL": "postgresql+psycopg://u:pw@db/app", "HOST": "db"}


def no_files(path: str) -> str:
    raise FileNotFoundError(2, "No such file or directory", path)


def parse(
    *sources: dict[str, Any], environ: dict[str, str] = ENV, read_file: Callable[[str], str] = no_files
) -> list[SourceConfig]:
    return parse_sources({"sources": list(sources)}, environ, read_file).sources


def test_secrets_come_from_env_files_and_interpolation() -> None:
    (a, b, c) = parse(
        {"kind": "sql", "name": "a", "url_env": "PG_URL", "table": "t"},
        {"kind": "sql", "name": "b", "url_file": "/run/secrets/pg", "table": "t"},
        {"kind": "sql", "name": "c", "url": "postgresql+psycopg://u@${HOST}/app", "table": "t"},
        read_file=lambda path: "sqlite:///from-file.db\n",
    )
    assert isinstance(a, SqlSourceConfig) and a.url.get_secret_value() == ENV["PG_URL"]
    assert isinstance(b, SqlSourceConfig) and b.url.get_secret_value() == "sqlite:///from-file.db"
    assert isinstance(c, SqlSourceConfig) and c.url.get_secret_value() == "postgresql+psycopg://u@db/app"
    assert "pw" not in repr(a)  # secrets never print


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"kind": "sql", "name": "orders", "url": "sqlite://", "table": "t", "batch_size": 0},
         "source 'orders' (sql), field 'batch_size'"),
        ({"kind": "sql", "name": "orders", "url": "sqlite://"}, "exactly one of 'table' and 'query'"),
        ({"kind": "sql", "name": "orders", "url": "sqlite://", "query": "select 1"}, "needs 'key'"),
        ({"kind": "log", "name": "app", "paths": ["/l/*.log"], "parser": "regex"}, "needs 'pattern'"),
        ({"kind": "log", "name": "app", "paths": ["/l/*.log"], "parser": "regex", "pattern": "(a"},
         "invalid regular expression"),
        ({"kind": "log", "name": "app", "paths": []}, "source 'app' (log), field 'paths'"),
        ({"kind": "log", "name": "app", "paths": ["x"], "multiline": {}}, "exactly one of 'start_pattern'"),
        ({"kind": "log", "name": "App!", "paths": ["x"]}, "field 'name'"),
        ({"kind": "log", "name": "app", "paths": ["x"], "content_template": "{0}"}, "named fields"),
        ({"kind": "ftp", "name": "x"}, "source 'x' (ftp)"),
        ({"kind": "sql", "name": "a", "url_env": "MISSING", "table": "t"}, "MISSING is not set"),
        ({"kind": "sql", "name": "a", "url_file": "/nope", "table": "t"}, "cannot read secret file /nope"),
    ],
)  # fmt: skip
def test_errors_name_the_source_and_the_field(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(source)


def test_source_names_are_unique() -> None:
    with pytest.raises(ConfigError, match="used twice"):
        parse({"kind": "log", "name": "a", "paths": ["x"]}, {"kind": "log", "name": "a", "paths": ["y"]})


def test_the_shipped_example_parses(tmp_path: Path) -> None:
    config = load_sources(
        "config/sources.yaml", environ={"TICKETS_DB_URL": "sqlite:///t.db", "SUPPORT_API_TOKEN": "t"}
    )
    kinds = {s.kind for s in config.sources}
    assert kinds == {"sql", "log", "http"}
    logs = [s for s in config.sources if isinstance(s, LogSourceConfig)]
    assert logs and all(s.paths for s in logs)


def test_a_file_that_is_not_yaml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sources(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "missing.yaml")
