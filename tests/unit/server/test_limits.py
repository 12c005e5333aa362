from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.server.core.limits import Limits, RequestRejected, check_prompt_tokens, check_request
from services.server.core.openai_api import ChatCompletionRequest, CompletionRequest

LIMITS = Limits(max_tokens=64, default_max_tokens=32, max_prompt_tokens=100, max_prompt_chars=500)


def chat(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "support", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def rejected(request: ChatCompletionRequest | CompletionRequest) -> RequestRejected:
    with pytest.raises(RequestRejected) as caught:
        check_request(request, LIMITS)
    return caught.value


def test_defaults_sample_at_temperature_one_with_the_default_length() -> None:
    sampling = check_request(chat(), LIMITS)
    assert (sampling.max_new_tokens, sampling.temperature, sampling.top_p, sampling.stop) == (
        32,
        1.0,
        1.0,
        (),
    )
    assert not sampling.greedy


def test_temperature_zero_is_greedy_and_groups_with_other_greedy_requests() -> None:
    a = check_request(chat(temperature=0, top_p=0.5), LIMITS)
    b = check_request(chat(temperature=0), LIMITS)
    assert a.greedy and a.group == b.group
    assert check_request(chat(temperature=0.7), LIMITS).group != a.group


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert check_request(chat(max_tokens=10, max_completion_tokens=20), LIMITS).max_new_tokens == 20


def test_too_many_tokens_is_a_400_naming_the_limit() -> None:
    error = rejected(chat(max_tokens=65))
    assert (error.status, error.code, error.param) == (400, "max_tokens_exceeded", "max_tokens")
    assert "64" in error.message


def test_what_cannot_be_honoured_is_refused_not_ignored() -> None:
    assert rejected(chat(n=2)).param == "n"
    assert rejected(chat(logprobs=True)).param == "logprobs"
    image = [{"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}]
    assert rejected(chat(messages=[{"role": "user", "content": image}])).code == "unsupported_content"
    assert rejected(CompletionRequest(model="m", prompt="x", echo=True)).param == "echo"
    assert rejected(CompletionRequest(model="m", prompt=["a", "b"])).param == "prompt"


def test_a_long_prompt_is_refused_before_and_after_tokenizing() -> None:
    assert rejected(chat(messages=[{"role": "user", "content": "x" * 501}])).code == "prompt_too_long"
    check_prompt_tokens(100, LIMITS)
    with pytest.raises(RequestRejected, match="101 tokens"):
        check_prompt_tokens(101, LIMITS)


def test_malformed_fields_fail_validation() -> None:
    with pytest.raises(ValidationError):
        chat(temperature=3)
    with pytest.raises(ValidationError):
        chat(stop=["a", "b", "c", "d", "e"])
    with pytest.raises(ValidationError):
        chat(messages=[])
    with pytest.raises(ValidationError):
        chat(messages=[{"role": "wizard", "content": "x"}])


def test_text_parts_of_a_message_are_joined() -> None:
    request = chat(
        messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    )
    assert request.messages[0].text() == "ab"
    assert check_request(request, LIMITS).max_new_tokens == 32
