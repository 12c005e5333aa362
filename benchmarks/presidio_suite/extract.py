"""Extract Presidio's predefined-recognizer test cases as data, by parsing (never importing) the tests.

Reads ``presidio-analyzer/tests/test_*_recognizer.py`` from a Presidio checkout or bare git directory,
finds every ``@pytest.mark.parametrize`` whose cases are literals with a text and an ``expected_len``,
and writes one JSON record per case: the text, the Presidio entity type expected, the expected count,
the expected spans (when the test gives them), the expected score ranges (when given), and where the
case comes from (repository, commit, file, test function, case index).

    .venv/bin/python -m benchmarks.presidio_suite.extract /work/.mirror/microsoft+presidio/repo
    .venv/bin/python -m benchmarks.presidio_suite.extract ~/src/presidio --out /tmp/cases.json

The entity of a case is, in order: the case's own ``entities`` argument, ``entities[entity_num]``, the
module's ``entities`` fixture (its returned list's first item), or the ``supported_entity=`` given to the
recognizer a fixture builds. Cases whose values are not literals (built by a helper call) or whose
entity cannot be told are counted as skipped, by reason. The extracted texts are Presidio's test data
(MIT licensed, see ``LICENSE_NOTE``); no Presidio code is copied.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS_DIR = "presidio-analyzer/tests"
DEFAULT_OUT = Path(__file__).with_name("cases.json")
REPOSITORY = "https://github.com/microsoft/presidio"
LICENSE_NOTE = (
    "Test texts and expectations extracted from Microsoft Presidio's test suite "
    "(presidio-analyzer/tests), Copyright (c) Microsoft Corporation, MIT License "
    "(https://github.com/microsoft/presidio/blob/main/LICENSE)."
)
TEXT_ARGS = ("text", "iban", "input_text", "sentence")
SPAN_ARGS = ("expected_positions", "expected_res", "expected_spans", "expected_position")
SCORE_ARGS = ("expected_score_ranges",)


class Source:
    """Files of a Presidio checkout (a work tree) or a git directory (bare or not), at HEAD."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.work_tree = (path / TESTS_DIR).is_dir()

    def _git(self, *args: str) -> str:
        git_dir = self.path / ".git" if (self.path / ".git").exists() else self.path
        done = subprocess.run(  # noqa: S603 - git, fixed arguments
            ["git", "--git-dir", str(git_dir), *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def commit(self) -> str:
        try:
            return self._git("rev-parse", "HEAD").strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return "unknown"

    def test_files(self) -> list[str]:
        if self.work_tree:
            names = [p.name for p in (self.path / TESTS_DIR).iterdir()]
        else:
            names = [
                n.rsplit("/", 1)[-1] for n in self._git("ls-tree", "--name-only", f"HEAD:{TESTS_DIR}").split()
            ]
        return sorted(
            f"{TESTS_DIR}/{n}" for n in names if n.startswith("test_") and n.endswith("_recognizer.py")
        )

    def read(self, rel: str) -> str:
        if self.work_tree:
            return (self.path / rel).read_text()
        return self._git("show", f"HEAD:{rel}")


@dataclass
class Case:
    file: str
    test: str
    index: int
    line: int
    text: str
    entity: str
    expected_len: int
    spans: list[list[int]] | None
    score_ranges: list[list[Any]] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": f"{self.file.rsplit('/', 1)[-1][:-3]}::{self.test}[{self.index}]",
            "file": self.file,
            "test": self.test,
            "index": self.index,
            "line": self.line,
            "entity": self.entity,
            "text": self.text,
            "expected_len": self.expected_len,
            "spans": self.spans,
            "score_ranges": self.score_ranges,
        }


def _fixture_entity(tree: ast.Module, entities: list[str] | None) -> str | None:
    """The module's ``entities`` fixture's first entity, else a fixture's ``supported_entity=``."""
    if entities:
        return entities[0]
    for sub in ast.walk(tree):
        if isinstance(sub, ast.keyword) and sub.arg == "supported_entity":
            if isinstance(sub.value, ast.Constant) and isinstance(sub.value.value, str):
                return sub.value.value
    return None


def _fixture_entities(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "entities":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and sub.value is not None:
                    try:
                        value = ast.literal_eval(sub.value)
                    except ValueError:
                        continue
                    if isinstance(value, list) and all(isinstance(v, str) for v in value):
                        return value
    return None


def _parametrize_calls(func: ast.FunctionDef) -> list[ast.Call]:
    calls = []
    for deco in func.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "parametrize"
            and len(deco.args) >= 2
        ):
            calls.append(deco)
    return calls


def _spans(value: Any) -> list[list[int]] | None:
    if not isinstance(value, tuple | list):
        return None
    if len(value) == 2 and all(isinstance(v, int) for v in value):
        value = (value,)  # a single (start, end) written without the outer tuple
    spans = []
    for item in value:
        if not (isinstance(item, tuple | list) and len(item) == 2 and all(isinstance(v, int) for v in item)):
            return None
        spans.append([int(item[0]), int(item[1])])
    return spans


def extract_file(rel: str, source_text: str, skipped: Counter[str]) -> list[Case]:
    tree = ast.parse(source_text)
    fixture_entities = _fixture_entities(tree)
    default_entity = _fixture_entity(tree, fixture_entities)
    cases: list[Case] = []
    for func in tree.body:
        if not isinstance(func, ast.FunctionDef) or not func.name.startswith("test"):
            continue
        for call in _parametrize_calls(func):
            try:
                names_value = ast.literal_eval(call.args[0])
            except ValueError:
                skipped["argument names not literal"] += 1
                continue
            names = (
                [n.strip() for n in names_value.split(",")]
                if isinstance(names_value, str)
                else list(names_value)
            )
            if "expected_len" not in names or not any(n in names for n in TEXT_ARGS):
                continue
            if not isinstance(call.args[1], ast.List | ast.Tuple):
                skipped["case list not literal"] += 1
                continue
            for index, element in enumerate(call.args[1].elts):
                try:
                    values = ast.literal_eval(element)
                except ValueError:
                    skipped["case not literal (built by a call)"] += 1
                    continue
                if not isinstance(values, tuple) or len(values) != len(names):
                    skipped["case shape differs from its argument names"] += 1
                    continue
                args = dict(zip(names, values, strict=True))
                text = next(args[n] for n in TEXT_ARGS if n in args)
                entity: str | None = default_entity
                if isinstance(args.get("entities"), list | tuple) and args["entities"]:
                    entity = str(args["entities"][0])
                elif isinstance(args.get("entity_num"), int) and fixture_entities:
                    entity = fixture_entities[args["entity_num"]]
                if entity is None or not isinstance(text, str) or not isinstance(args["expected_len"], int):
                    skipped["entity or text unknown"] += 1
                    continue
                span_arg = next((n for n in SPAN_ARGS if n in args), None)
                spans = _spans(args[span_arg]) if span_arg else None
                if spans is not None and not spans and args["expected_len"]:
                    spans = None  # positions not given: only the count is expected
                score_arg = next((n for n in SCORE_ARGS if n in args), None)
                scores = [list(r) for r in args[score_arg]] if score_arg and args[score_arg] else None
                cases.append(
                    Case(
                        rel,
                        func.name,
                        index,
                        element.lineno,
                        text,
                        entity,
                        args["expected_len"],
                        spans,
                        scores,
                    )
                )
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("presidio", type=Path, help="a Presidio checkout or its git directory (bare is fine)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON written (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    source = Source(args.presidio)
    skipped: Counter[str] = Counter()
    cases: list[Case] = []
    files = source.test_files()
    for rel in files:
        cases.extend(extract_file(rel, source.read(rel), skipped))
    document = {
        "source": {"repository": REPOSITORY, "commit": source.commit(), "path": TESTS_DIR},
        "license": LICENSE_NOTE,
        "extracted_by": "benchmarks/presidio_suite/extract.py",
        "files_read": len(files),
        "skipped": dict(skipped),
        "entities": dict(sorted(Counter(c.entity for c in cases).items())),
        "cases": [c.as_json() for c in cases],
    }
    args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    sys.stdout.write(f"{len(cases)} cases from {len(files)} files at {source.commit()} -> {args.out}\n")
    sys.stdout.write(f"skipped: {dict(skipped)}\n")


if __name__ == "__main__":
    main()
