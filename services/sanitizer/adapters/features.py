"""What the feature step loads: py3langid's bundled n-gram model (no download) and the training
tokenizer's ``tokenizer.json`` through the light ``tokenizers`` library (no torch, no transformers).

Both are loaded once per process and shared by every pipeline built in it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from libs.model_cache import embedded_folder
from services.sanitizer.core.errors import PolicyError
from services.sanitizer.core.features import LanguageIdentifier, TokenCounter

log = logging.getLogger(__name__)

AUTO_TOKENIZER = "auto"
EMBEDDED_TOKENIZER = "embedded"
NO_TOKENIZER = "none"


@functools.cache
def language_identifier() -> LanguageIdentifier:
    """py3langid (97 languages, character n-grams, its model ships in the wheel) with normalized
    probabilities."""
    from py3langid import langid

    model = langid.LanguageIdentifier.from_modelpath(
        Path(langid.MODEL_DIR) / langid.MODEL_FILE, norm_probs=True
    )
    lock = threading.Lock()  # the identifier keeps no state, but is not documented as thread-safe

    def identify(text: str) -> tuple[str, float]:
        with lock:
            lang, score = model.classify(text)
        return str(lang), float(score)

    return identify


def tokenizer_path(spec: str) -> Path | None:
    """The tokenizer.json a ``features.tokenizer`` setting names (None for ``none``)."""
    if spec == NO_TOKENIZER:
        return None
    if spec in (EMBEDDED_TOKENIZER, AUTO_TOKENIZER):
        folder = embedded_folder()
        path = folder / "tokenizer.json"
        if not path.is_file() and spec == AUTO_TOKENIZER:
            log.warning(
                "features.tokenizer: auto found no prepared tokenizer (run `tuneline models prepare`): "
                "records are stored without a token count",
                extra={"folder": str(folder)},
            )
            return None
        if not path.is_file():
            raise PolicyError(
                f"features.tokenizer: embedded needs the training default's tokenizer in {folder}: "
                "run `tuneline models prepare` (scripts/setup.sh does), point features.tokenizer at a "
                "tokenizer.json, or set it to none (records are then stored without a token count)"
            )
        return path
    path = Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise PolicyError(f"features.tokenizer: no tokenizer.json at {path}")
    return path


def token_counter(spec: str) -> TokenCounter | None:
    path = tokenizer_path(spec)
    return None if path is None else _counter(str(path))


@functools.cache
def _counter(path: str) -> TokenCounter:
    from tokenizers import Tokenizer

    try:
        tokenizer: Any = Tokenizer.from_file(path)
    except Exception as exc:  # a corrupt or foreign file: say which
        raise PolicyError(f"features.tokenizer: cannot load {path}: {exc}") from exc

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)  # no offsets
        return [len(e.ids) for e in encodings]

    return count
