from __future__ import annotations

import pytest

from libs.training_data.formatting import PAIR_KEYS, Example, render, to_example

BOS, EOS = "<s>", "</s>"


@pytest.mark.parametrize(("prompt_key", "response_key"), PAIR_KEYS)
def test_each_known_pair_becomes_a_prompt_and_response(prompt_key: str, response_key: str) -> None:
    example = to_example("ticket text", {prompt_key: "How do I reset it?", response_key: "Hold the button."})
    assert example == Example(prompt="How do I reset it?", response="Hold the button.")


def test_keys_are_matched_whatever_their_case_and_values_are_stripped() -> None:
    example = to_example("", {"Question": "  Where is it? ", "ANSWER": "Floor 3.\n"})
    assert example == Example(prompt="Where is it?", response="Floor 3.")


def test_an_instruction_gets_its_input_appended() -> None:
    example = to_example("", {"instruction": "Summarize.", "input": "The printer jammed.", "output": "Jam."})
    assert example is not None
    assert example.prompt is not None
    assert example.prompt.startswith("Summarize.")
    assert example.prompt.endswith("The printer jammed.")
    assert example.response == "Jam."


def test_an_instruction_without_input_is_the_prompt_alone() -> None:
    example = to_example("", {"instruction": "Summarize.", "input": "  ", "output": "Jam."})
    assert example == Example(prompt="Summarize.", response="Jam.")


@pytest.mark.parametrize(
    "fields",
    [
        {"question": "Where?", "answer": "   "},  # blank response
        {"question": "", "answer": "Here."},  # blank prompt
        {"question": "Where?", "answer": 42},  # not a string
        {"question": "Where?"},  # half a pair
        {"prompt": "Where?", "answer": "Here."},  # keys from two different pairs
        {"title": "Printer", "body": "jammed"},  # unknown keys
    ],
)
def test_without_a_complete_pair_the_content_is_plain_text(fields: dict[str, object]) -> None:
    assert to_example("the printer is jammed", fields) == Example(text="the printer is jammed")


def test_blank_content_without_a_pair_is_skipped() -> None:
    assert to_example("  \n\t", {"title": "x"}) is None
    assert to_example("", {}) is None


def test_a_pair_is_used_even_when_content_is_blank() -> None:
    assert to_example("", {"query": "q?", "reply": "r."}) == Example(prompt="q?", response="r.")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"text": "a", "prompt": "p", "response": "r"}, {"prompt": "p"}, {"text": "a", "response": "r"}],
)
def test_an_example_is_text_or_a_pair(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="either text"):
        Example(**kwargs)


def test_text_is_wrapped_in_bos_and_eos() -> None:
    assert render(Example(text="hello world"), None, BOS, EOS) == f"{BOS}hello world{EOS}"


def test_a_pair_without_chat_template_uses_the_plain_layout() -> None:
    rendered = render(Example(prompt="Where?", response="Floor 3."), None, BOS, EOS)
    assert rendered.startswith(BOS)
    assert rendered.endswith(f"Floor 3.{EOS}")
    prompt_at, response_at = rendered.index("### Prompt:\nWhere?"), rendered.index("### Response:\nFloor 3.")
    assert prompt_at < response_at


def test_a_pair_goes_through_the_chat_template() -> None:
    seen: list[list[dict[str, str]]] = []

    def template(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return "|".join(f"{m['role']}:{m['content']}" for m in messages)

    rendered = render(Example(prompt="Where?", response="Floor 3."), template, BOS, EOS)
    assert seen == [[{"role": "user", "content": "Where?"}, {"role": "assistant", "content": "Floor 3."}]]
    assert rendered == "user:Where?|assistant:Floor 3."  # the template owns the special tokens


def test_text_ignores_the_chat_template() -> None:
    def template(messages: list[dict[str, str]]) -> str:
        raise AssertionError("plain text must not go through the chat template")

    assert render(Example(text="log line"), template, BOS, EOS) == f"{BOS}log line{EOS}"
