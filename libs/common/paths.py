"""Default locations that do not depend on the working directory.

- The shipped YAML files (``config/``) are found from where the installed code lives, so a service
  started from any folder reads the same defaults.
- What a service writes (Faust tables, training runs, the local model store, fetched models) goes under
  one per-user folder: ``TUNELINE_HOME``, else ``$XDG_DATA_HOME/tuneline``, else
  ``~/.local/share/tuneline``. Never into the source tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

# libs/common/paths.py -> the folder that holds libs/, services/ and config/ (the checkout, or the
# application folder of an image that copies the tree).
INSTALL_ROOT: Final = Path(__file__).resolve().parents[2]
HOME_ENV: Final = "TUNELINE_HOME"


def config_dir() -> Path:
    """The shipped ``config/`` folder."""
    return INSTALL_ROOT / "config"


def config_path(name: str) -> Path:
    """A shipped YAML file, e.g. ``config_path("sanitizer.yaml")``."""
    return config_dir() / name


def tuneline_home() -> Path:
    """The per-user folder for everything services write by default (see the module docstring)."""
    explicit = os.environ.get(HOME_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tuneline"


def home_path(*parts: str) -> Path:
    """A folder under ``tuneline_home()``, e.g. ``home_path("models")``."""
    return tuneline_home().joinpath(*parts)
