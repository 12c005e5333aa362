"""Turn a stored record into training text.

A record whose fields hold a prompt/response pair (question/answer, instruction/output...) becomes a
pair, so the model learns the exchange; any other record is plain text from its ``content``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

ChatTemplate = Callable[[list[dict[str, str]]], str]

# Checked in this order: "instruction" before "input", because an instruction record's "input" is
# extra context for the instruction, not the prompt.
PAIR_KEYS: Final = (
    ("prompt", "response"),
    ("question", "answer"),
    ("instruction", "output"),
    ("input", "output"),
    ("query", "reply"),
)


@dataclass(frozen=True, slots=True)
class Example:
    """Either plain ``text`` or a ``prompt`` + ``response`` pair, never both."""

    text: str | None = None
    prompt: str | None = None
    response: str | None = None

    def __post_init__(self) -> None:
        pair = self.prompt is not None and self.response is not None
        half_pair = (self.prompt is None) != (self.response is None)
        if half_pair or pair == (self.text is not None):
            raise ValueError("an Example has either text, or both prompt and response")


def _string_fields(fields: Mapping[str, object]) -> dict[str, str]:
    """Lower-cased keys -> stripped non-empty string values (the first spelling of a key wins)."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if isinstance(value, str) and value.strip():
            out.setdefault(key.lower(), value.strip())
    return out


def to_example(content: str, fields: Mapping[str, object]) -> Example | None:
    """The example a record teaches; None when it has nothing to learn from."""
    strings = _string_fields(fields)
    for prompt_key, response_key in PAIR_KEYS:
        if prompt_key in strings and response_key in strings:
            prompt = strings[prompt_key]
            if prompt_key == "instruction" and "input" in strings:
                prompt = f"{prompt}\n\n{strings['input']}"
            return Example(prompt=prompt, response=strings[response_key])
    if not content.strip():
        return None
    return Example(text=content)


def render(example: Example, apply_chat_template: ChatTemplate | None, bos: str, eos: str) -> str:
    """The string the tokenizer sees.

    A pair goes through the model's chat template when it has one; the template then owns the special
    tokens (it usually writes its own begin and end-of-turn markers), so ``bos``/``eos`` are not added.
    """
    prompt, response = example.prompt, example.response
    if prompt is None or response is None:
        return f"{bos}{example.text or ''}{eos}"
    if apply_chat_template is not None:
        return apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        )
    return f"{bos}### Prompt:\n{prompt}\n\n### Response:\n{response}{eos}"
