"""Each service installs alone: checked on the import graph, read with ``ast`` (nothing is imported).

(a) a service imports itself and ``libs/``, never another service; (b) ``libs/`` imports no service;
(c) the third-party modules a service reaches (through its own package and ``libs/``, counting imports
inside functions) come with ``pip install tuneline[<service>]``: the core dependencies, the service's
extra, and what those require in turn, as their installed metadata says.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[2]
SERVICES = ("collector", "sanitizer", "writer", "trainer", "evaluator", "server")
FIRST_PARTY = ("libs", "services")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    names: tuple[str, ...]  # for `from module import a, b`: a, b (they may be submodules)
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _optional(handlers: list[ast.ExceptHandler]) -> bool:
    """A ``try`` whose handler catches ImportError: what it imports is optional."""
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError") for k in kinds):
            return True
    return False


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> Iterator[Import]:
    """Every import that runs at some point (module level or in a function), not under TYPE_CHECKING
    nor in a try that tolerates ImportError."""
    yield from _imports_in(ast.iter_child_nodes(tree), package)


def _imports_in(nodes: Iterable[ast.AST], package: str) -> Iterator[Import]:
    for node in nodes:
        if isinstance(node, ast.If) and _type_checking(node.test):
            yield from _imports_in(node.orelse, package)
            continue
        if isinstance(node, ast.Try) and _optional(node.handlers):  # the body's imports are optional
            yield from _imports_in([*node.handlers, *node.orelse, *node.finalbody], package)
            continue
        if isinstance(node, ast.Import):
            yield from (Import(alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield Import(module, tuple(alias.name for alias in node.names), node.lineno)
        else:
            yield from _imports(node, package)


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: tuple[Import, ...]


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for top in FIRST_PARTY:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = _module_name(path)
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            tree = ast.parse(path.read_text(), str(path))
            found[name] = Module(name, path, tuple(_imports(tree, package)))
    return found


def _first_party_targets(imp: Import) -> set[str]:
    """The first-party modules an import loads: the module, its packages, and submodules named in a from."""
    known = modules()
    targets = {n for n in (imp.module, *(f"{imp.module}.{name}" for name in imp.names)) if n in known}
    for name in list(targets):
        parts = name.split(".")
        targets |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in known}
    return targets


def _service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 and parts[1] in SERVICES else None


def _closure(start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imp in modules()[name].imports:
            todo.extend(_first_party_targets(imp) - seen)
    return seen


def _third_party(names: Iterable[str]) -> dict[str, str]:
    """Top-level third-party module -> one first-party module that imports it."""
    found: dict[str, str] = {}
    for name in sorted(names):
        for imp in modules()[name].imports:
            top = imp.module.split(".")[0]
            if top and top not in FIRST_PARTY and top not in sys.stdlib_module_names and top != "__future__":
                found.setdefault(top, f"{name}:{imp.line}")
    return found


# ------------------------------------------------------------------------------ what an extra installs
def _pyproject() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def declared(extra: str) -> list[Requirement]:
    """The core dependencies plus the extra's, with tuneline[...] self-references expanded."""
    groups = _pyproject()
    requirements: list[Requirement] = []
    todo, seen = ["", extra], set()
    while todo:
        group = todo.pop()
        if group in seen:
            continue
        seen.add(group)
        for line in groups[group]:
            req = Requirement(line)
            if canonicalize_name(req.name) == "tuneline":
                todo.extend(req.extras)
            else:
                requirements.append(req)
    return requirements


def installed_with(extra: str) -> set[str]:
    """Distributions pip installs for tuneline[extra]: the declared ones and, from their installed
    metadata, everything they require (markers evaluated for this interpreter and the extras asked)."""
    found: set[str] = set()
    todo = [(req, frozenset(req.extras)) for req in declared(extra)]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in found:
            continue
        found.add(key)
        found.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own requirements are unknown (its name still counts)
        for line in requires:
            sub = Requirement(line)
            if sub.marker is not None and not any(
                sub.marker.evaluate({"extra": e}) for e in (extras or {""})
            ):
                continue
            todo.append((sub, frozenset(sub.extras)))
    return {name for name in found if "[" not in name}


@cache
def _import_owners() -> dict[str, set[str]]:
    """Top-level import name -> the installed distributions that provide it."""
    owners: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        owners.setdefault(top, set()).update(canonicalize_name(d) for d in dists)
    return owners


def uncovered(service: str) -> dict[str, str]:
    closure = _closure(n for n in modules() if _service_of(n) == service)
    available = installed_with(service)
    missing = {}
    for top, where in _third_party(closure).items():
        owners = _import_owners().get(top, set())
        if not owners & available:
            missing[top] = f"{where} (from {', '.join(sorted(owners)) or 'no installed distribution'})"
    return missing


# ------------------------------------------------------------------------------------------- the rules
_SAMPLE = """
import a.b
from c import d
from . import sibling
from ..up import thing
if TYPE_CHECKING:
    import only_for_types
else:
    import at_run_time
try:
    import optional
except ImportError:
    import fallback
def f():
    from inside import g
"""


def test_the_graph_sees_every_import_that_runs() -> None:
    found = {(i.module, i.names) for i in _imports(ast.parse(_SAMPLE), "services.x.adapters")}
    assert found == {
        ("a.b", ()), ("c", ("d",)), ("services.x.adapters", ("sibling",)), ("services.x.up", ("thing",)),
        ("at_run_time", ()), ("fallback", ()), ("inside", ("g",)),
    }  # fmt: skip
    cli = modules()["services.sanitizer.cli"]
    assert "services.sanitizer.offline" in {i.module for i in cli.imports}  # imported in a command body
    assert "services.sanitizer.offline" in _closure(["services.sanitizer.cli"])


def test_extras_expand_self_references_and_follow_requirements() -> None:
    dev = installed_with("dev")
    assert {"faust-streaming", "torch", "pytest"} <= dev
    assert "aiokafka" in installed_with("sanitizer")  # declared, and a requirement of faust-streaming
    assert "botocore" in installed_with("writer")  # through boto3, a core dependency
    assert "torch" not in installed_with("collector")
    assert "deepspeed" in installed_with("trainer") and "torch" in installed_with("trainer")


def test_a_third_party_import_outside_the_extra_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: without its extra the collector's sqlalchemy and httpx are missing."""
    groups = _pyproject()
    monkeypatch.setattr(sys.modules[__name__], "_pyproject", lambda: {**groups, "collector": []})
    assert {"sqlalchemy", "httpx"} <= set(uncovered("collector"))


def test_no_service_imports_another() -> None:
    crossing = [
        f"{m.path.relative_to(ROOT)}:{imp.line} imports {imp.module}"
        for m in modules().values()
        if (own := _service_of(m.name))
        for imp in m.imports
        if (other := _service_of(imp.module)) and other != own
    ]
    assert not crossing, "\n".join(crossing)


def test_libs_imports_no_service() -> None:
    crossing = [
        f"{m.path.relative_to(ROOT)}:{imp.line} imports {imp.module}"
        for m in modules().values()
        if m.name.startswith("libs")
        for imp in m.imports
        if re.match(r"services(\.|$)", imp.module)
    ]
    assert not crossing, "\n".join(crossing)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_needs_only_its_extra(service: str) -> None:
    assert uncovered(service) == {}


def test_a_service_extra_brings_no_other_service_stack() -> None:
    """The evaluator runs models and the PII detector, not Faust, Ray or DeepSpeed; the model server runs
    models behind an HTTP API, nothing else; the Kafka-to-DynamoDB services need no ML stack."""
    stacks = {
        "sanitizer": {"faust-streaming", "aiokafka", "rocksdict"},
        "trainer": {"ray", "deepspeed"},
        "http": {"fastapi", "uvicorn"},
        "models": {"torch", "transformers", "peft"},
        "pii": {"presidio-analyzer", "spacy"},
    }
    allowed = {
        "collector": set(),
        "writer": set(),
        "sanitizer": {"sanitizer", "pii"},
        "trainer": {"trainer", "models", "http"},
        "evaluator": {"models", "pii"},
        "server": {"models", "http"},
    }
    for service, stacks_allowed in allowed.items():
        installed = installed_with(service)
        for stack, distributions in stacks.items():
            if stack not in stacks_allowed:
                assert not distributions & installed, (service, stack, distributions & installed)
