"""What one request may ask for, checked before it is queued: each refusal is a 4xx with the parameter
it concerns, in OpenAI's error shape."""

from __future__ import annotations

from dataclasses import dataclass

from services.server.core.openai_api import ChatCompletionRequest, CompletionRequest


class RequestRejected(Exception):
    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 512  # the most new tokens one request may ask for
    default_max_tokens: int = 256  # a chat request that names none
    max_prompt_tokens: int = 2048
    max_prompt_chars: int = 64_000  # refused before tokenizing: tokenizing itself costs


@dataclass(frozen=True)
class Sampling:
    """How one request generates; requests with equal ``group`` can share a batch."""

    max_new_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def group(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.greedy else (self.temperature, self.top_p)


def check_request(request: ChatCompletionRequest | CompletionRequest, limits: Limits) -> Sampling:
    """The request's sampling settings; raises RequestRejected for what cannot be served."""
    if request.n != 1:
        raise RequestRejected(400, "only n=1 is supported", "unsupported_parameter", "n")
    if isinstance(request, CompletionRequest):
        if request.echo:
            raise RequestRejected(400, "echo is not supported", "unsupported_parameter", "echo")
        if isinstance(request.prompt, list) and len(request.prompt) != 1:
            raise RequestRejected(400, "send one prompt per request", "unsupported_parameter", "prompt")
        chars = len(request.prompt_text())
    else:
        for message in request.messages:
            if isinstance(message.content, list) and any(p.get("type") != "text" for p in message.content):
                raise RequestRejected(
                    400, "only text content is supported", "unsupported_content", "messages"
                )
        chars = sum(len(m.text()) for m in request.messages)
    if request.logprobs:
        raise RequestRejected(400, "logprobs are not supported", "unsupported_parameter", "logprobs")
    if chars > limits.max_prompt_chars:
        raise RequestRejected(
            400,
            f"the prompt is longer than {limits.max_prompt_chars} characters",
            "prompt_too_long",
            "messages",
        )
    asked = request.requested_tokens()
    if asked is not None and asked > limits.max_tokens:
        raise RequestRejected(
            400,
            f"max_tokens is {asked}; this server allows at most {limits.max_tokens}",
            "max_tokens_exceeded",
            "max_tokens",
        )
    temperature = 1.0 if request.temperature is None else request.temperature
    return Sampling(
        max_new_tokens=asked if asked is not None else limits.default_max_tokens,
        temperature=temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        stop=request.stop_strings(),
    )


def check_prompt_tokens(count: int, limits: Limits) -> None:
    if count > limits.max_prompt_tokens:
        raise RequestRejected(
            400,
            f"the prompt is {count} tokens; this server allows at most {limits.max_prompt_tokens}",
            "prompt_too_long",
            "messages",
        )
