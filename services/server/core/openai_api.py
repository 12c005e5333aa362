"""The OpenAI-compatible wire format, as pure data: request bodies (validated), response and stream-chunk
bodies, errors. Only the fields tuneline serves are modelled; other known OpenAI fields are accepted and
ignored, so unchanged clients work, but a value we cannot honour (``n`` > 1, ``echo``, ``logprobs``) is a
clear 400 rather than a silently different answer."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant", "developer", "tool"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text; content parts other than text are refused by the request check."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content)


Stop = str | list[str] | None


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    stop: Stop = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = 1
    seed: int | None = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: Stop) -> Stop:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop: up to 4 non-empty strings")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = None

    def requested_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)  # OpenAI's default for completions
    echo: bool = False
    logprobs: int | None = None

    def requested_tokens(self) -> int | None:
        return self.max_tokens

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


def error_body(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: clients read ``error.message`` and map the status to an exception."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(
    completion_id: str, model: str, created: int, text: str, finish_reason: str, used: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": used,
    }


def chat_chunk(
    completion_id: str, model: str, created: int, delta: dict[str, str], finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(
    completion_id: str, model: str, created: int, used: dict[str, int], chat: bool
) -> dict[str, Any]:
    """The stream's last chunk when the client asked for ``stream_options.include_usage``: no choices."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    return {
        "id": completion_id,
        "object": kind,
        "created": created,
        "model": model,
        "choices": [],
        "usage": used,
    }


def text_completion(
    completion_id: str,
    model: str,
    created: int,
    text: str,
    finish_reason: str | None,
    used: dict[str, int] | None,
) -> dict[str, Any]:
    """A whole completion, or one stream chunk of it (same object type, as OpenAI sends)."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }
    if used is not None:
        body["usage"] = used
    return body


def model_entry(dataset: str, run_id: str, created: int) -> dict[str, Any]:
    return {"id": dataset, "object": "model", "created": created, "owned_by": "tuneline", "run_id": run_id}


def served_name(dataset: str, run_id: str) -> str:
    """The ``model`` of every response: the alias asked for and the run that answered."""
    return f"{dataset}:{run_id}"


def sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()
