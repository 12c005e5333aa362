"""Content templates: the text to learn from, rendered from a record's fields (``"{subject}\\n{body}"``)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from services.collector.core.errors import ConfigError

_FORMATTER = string.Formatter()


def template_fields(template: str) -> set[str]:
    """The field names a template refers to; raises ``ConfigError`` for a malformed template."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ConfigError(f"content template {template!r}: {exc}") from exc
    names = set()
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier():
            raise ConfigError(f"content template {template!r}: use named fields like {{subject}}")
        names.add(name)
    return names


class ContentTemplate:
    """Renders a template; a missing or null field renders as an empty string, never as ``None``."""

    def __init__(self, template: str) -> None:
        self.fields = template_fields(template)
        self._template = template
        parts = list(_FORMATTER.parse(template))
        # Plain `{name}` fields (no format spec or conversion) render by joining strings, the hot path.
        self._simple = all(not spec and not conversion for _, _, spec, conversion in parts)
        self._parts = [(literal, name) for literal, name, _, _ in parts]

    def render(self, values: Mapping[str, Any]) -> str:
        if not self._simple:
            return self._template.format_map(_Blank(values))
        out = []
        for literal, name in self._parts:
            out.append(literal)
            if name is not None:
                value = values.get(name)
                if value is not None:
                    out.append(value if type(value) is str else str(value))
        return "".join(out)


class _Blank(dict[str, Any]):
    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return ""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return "" if value is None else value


def default_content(fields: Mapping[str, Any]) -> str:
    """Without a template: ``name: value`` lines of the non-empty fields, in order."""
    return "\n".join(f"{name}: {value}" for name, value in fields.items() if value not in (None, ""))
