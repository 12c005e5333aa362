"""Examples -> the exact text a model trains on and is evaluated on, with the model's own tokenizer.

One function for trainer and evaluator alike: a chat model gets its chat template, a plain model
``bos + text + eos`` (``formatting.render``). ``generation_prompt`` is the text a model answers, in the
same format: the evaluator and the model server prompt a model the way it was trained.
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


def generation_prompt(messages: list[dict[str, str]], tokenizer: Any) -> str:
    """The conversation so far, ending where the assistant's answer starts.

    A model without a chat template learned pairs as ``### Prompt: / ### Response:``; it sees the
    conversation's messages joined into one prompt.
    """
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    prompt = "\n\n".join(m["content"] for m in messages if m["content"])
    return f"{tokenizer.bos_token or ''}### Prompt:\n{prompt}\n\n### Response:\n"
