"""Examples -> the exact text a model trains on and is evaluated on, with the model's own tokenizer.

One function for trainer and evaluator alike: a chat model gets its chat template, a plain model
``bos + text + eos`` (``formatting.render``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from libs.training_data.formatting import Example, render


def render_all(examples: Iterable[Example], tokenizer: Any) -> list[str]:
    template = getattr(tokenizer, "chat_template", None)

    def apply_chat_template(messages: list[dict[str, str]]) -> str:
        return str(tokenizer.apply_chat_template(messages, tokenize=False))

    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    return [render(e, apply_chat_template if template else None, bos, eos) for e in examples]
