"""HTTP API sources: configuration and pagination (the HTTP source lands in the next commits)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from services.collector.core.source import SourceBase


class HttpSourceConfig(SourceBase):
    kind: Literal["http"]
    url: str
    token: SecretStr | None = None
