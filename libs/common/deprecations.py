"""Settings read under an old environment name still work; the service says so once at start."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping


def renamed_env(renamed: Mapping[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A message per old name (key of ``renamed``) set in the environment, naming its replacement.
    Names match without regard to case, as pydantic-settings reads them."""
    present = {name.upper() for name in (os.environ if environ is None else environ)}
    messages = []
    for old, new in renamed.items():
        if old.upper() in present:
            both = f" (both are set: {new} wins)" if new.upper() in present else ""
            messages.append(f"{old} is deprecated: set {new} instead{both}")
    return messages


def warn_renamed_env(log: logging.Logger, renamed: Mapping[str, str]) -> None:
    for message in renamed_env(renamed):
        log.warning(message)
