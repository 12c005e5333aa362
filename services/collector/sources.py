"""From configuration to running objects: read the sources file, build each source's adapter."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from libs.common.yaml_files import read_yaml
from services.collector.core.config import (
    LogSourceConfig,
    SourceConfig,
    SourcesConfig,
    SqlSourceConfig,
    parse_sources,
)
from services.collector.core.errors import ConfigError
from services.collector.core.source import Source


def load_sources(path: str | Path, environ: Mapping[str, str] | None = None) -> SourcesConfig:
    raw = read_yaml(path, "sources file", ConfigError)
    return parse_sources(raw, os.environ if environ is None else environ, _read_secret)


def _read_secret(path: str) -> str:
    return Path(path).read_text()


def build_source(config: SourceConfig, stop: threading.Event | None = None) -> Source:
    """The adapter for a source; ``stop`` cuts its retry waits short when the collector shuts down."""
    # Imported here so a collector without, say, SQL sources does not need SQLAlchemy's drivers.
    if isinstance(config, SqlSourceConfig):
        from services.collector.adapters.sql import SqlSource

        return SqlSource(config)
    if isinstance(config, LogSourceConfig):
        from services.collector.adapters.logfiles import LogFileSource

        return LogFileSource(config)
    from services.collector.adapters.http import HttpSource

    if stop is None:
        return HttpSource(config)

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return HttpSource(config, sleep=sleep)
