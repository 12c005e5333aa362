"""Reading the YAML files services are configured by (sources, policies, trainer and evaluator
configs): one way to read them and one way to say what is wrong, naming the file and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: str | Path, what: str, error: Callable[[str], Exception]) -> Any:
    """The parsed document (an empty file is ``{}``); ``error(message)`` is raised for a file that
    cannot be read or is not YAML, ``what`` naming it ("policy file", "trainer config")."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
    return {} if raw is None else raw


def problems(exc: ValidationError) -> str:
    """Every invalid field as ``dotted.path: message``, without the values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    )


def load_yaml_model(path: str | Path, model: type[M], what: str, error: Callable[[str], Exception]) -> M:
    """``read_yaml`` validated into ``model``; ``error`` names the file and every invalid field."""
    raw = read_yaml(path, what, error)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{what} {path}: {problems(exc)}") from None
