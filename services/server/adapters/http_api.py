"""The OpenAI-compatible HTTP API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions`` (whole or
streamed as server-sent events), plus ``/healthz``, ``/readyz`` and ``/metrics``.

Every error has OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``), so client
libraries raise their usual exceptions. Responses name the run that answered: ``model`` is
``<dataset>:<run id>`` and the ``X-Tuneline-Run-Id`` header carries the run id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException

from libs.common.asgi import BodyLimit, RequestMetrics
from libs.common.auth import bearer_token, token_matches
from libs.training_data.render import generation_prompt
from services.server.adapters.engine import Delta, Finished, Job, Piece
from services.server.adapters.models import ModelNotServed, Served, ServedModels
from services.server.core.limits import Limits, RequestRejected, check_prompt_tokens, check_request
from services.server.core.openai_api import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_chunk,
    chat_completion,
    error_body,
    model_entry,
    served_name,
    sse,
    text_completion,
    usage,
    usage_chunk,
)
from services.server.core.text import TextAssembler
from services.server.metrics import ServerMetrics

log = logging.getLogger(__name__)

RUN_HEADER: Final = "X-Tuneline-Run-Id"
ERROR_TYPES: Final = {
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


def openai_error(
    status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return JSONResponse(error_body(message, kind, code, param), status_code=status, headers=headers)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.response = openai_error(status, message, code, param, headers)


def create_app(
    models: ServedModels,
    metrics: ServerMetrics,
    registry: CollectorRegistry,
    token: str | None,
    limits: Limits | None = None,
    max_concurrent: int = 64,
    max_body_bytes: int = 1_048_576,
    ready: Callable[[], bool] | None = None,
    log_prompts: bool = False,
) -> FastAPI:
    """The API over ``models``. ``token`` None serves without auth (insecure dev mode, warned about)."""
    if token is None:
        log.warning("model server running WITHOUT authentication (insecure dev mode)")
    limits = limits or Limits()
    app = FastAPI(title="tuneline model server", version="1", docs_url=None, redoc_url=None)
    in_flight = 0

    def authorized(request: Request) -> None:
        if token is not None and not token_matches(bearer_token(request.headers.get("authorization")), token):
            raise ApiError(
                401,
                "missing or invalid bearer token",
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def resolve(name: str) -> tuple[str, str | None]:
        dataset, _, run_id = name.partition(":")
        return dataset, run_id or None

    def acquire(stack: ExitStack, name: str) -> Served:
        dataset, run_id = resolve(name)
        try:
            return stack.enter_context(models.lease(dataset, run_id))
        except ModelNotServed:
            served = [s.dataset for s in models.current()]
            raise ApiError(
                404, f"model {name!r} is not served here; served: {served}", "model_not_found", "model"
            ) from None

    async def run(
        body: ChatCompletionRequest | CompletionRequest, prompt_of: Callable[[Any], str], chat: bool
    ) -> Response:
        nonlocal in_flight
        try:
            sampling = check_request(body, limits)
        except RequestRejected as exc:
            raise ApiError(exc.status, exc.message, exc.code, exc.param) from None
        if in_flight >= max_concurrent:
            raise ApiError(
                429,
                f"{max_concurrent} requests are in flight; retry shortly",
                "too_many_requests",
                headers={"Retry-After": "1"},
            )
        stack = ExitStack()
        try:
            served = acquire(stack, body.model)
            engine = served.engine
            prompt_ids = await asyncio.to_thread(lambda: engine.encode(prompt_of(engine.tokenizer)))
            try:
                check_prompt_tokens(len(prompt_ids), limits)
            except RequestRejected as exc:
                raise ApiError(exc.status, exc.message, exc.code, exc.param) from None
            job = Job(
                prompt_ids,
                sampling,
                TextAssembler(engine.decode, sampling.stop),
                asyncio.get_running_loop(),
                asyncio.Queue(),
            )
            in_flight += 1
            metrics.in_flight.inc()
            stack.callback(_left)
            engine.submit(job)
        except BaseException:
            stack.close()
            raise
        context = _Completion(served, job, chat, f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}")
        headers = {RUN_HEADER: served.run_id}
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(
                _stream(context, stack, include_usage),
                media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        with stack:
            try:
                text, finished = await _collect(context)
            except asyncio.CancelledError:
                job.cancelled = True
                raise
        if finished.reason == "error":
            return openai_error(500, finished.error or "generation failed", "generation_failed")
        return JSONResponse(context.whole(text, finished), headers=headers)

    def _left() -> None:
        nonlocal in_flight
        in_flight -= 1
        metrics.in_flight.dec()

    class _Completion:
        def __init__(self, served: Served, job: Job, chat: bool, completion_id: str) -> None:
            self.served, self.job, self.chat, self.id = served, job, chat, completion_id
            self.model = served_name(served.dataset, served.run_id)
            self.created = int(time.time())

        def whole(self, text: str, finished: Finished) -> dict[str, Any]:
            used = usage(finished.prompt_tokens, finished.completion_tokens)
            if self.chat:
                return chat_completion(self.id, self.model, self.created, text, finished.reason, used)
            return text_completion(self.id, self.model, self.created, text, finished.reason, used)

        def chunk(self, text: str | None, finished: Finished | None) -> bytes:
            reason = finished.reason if finished else None
            if self.chat:
                delta = {} if text is None else {"content": text}
                return sse(chat_chunk(self.id, self.model, self.created, delta, reason))
            return sse(text_completion(self.id, self.model, self.created, text or "", reason, None))

        def record(self, finished: Finished, text: str) -> None:
            dataset, job = self.served.dataset, self.job
            now = time.monotonic()
            metrics.completions.labels(dataset, finished.reason).inc()
            metrics.tokens_in.labels(dataset).inc(finished.prompt_tokens)
            metrics.tokens_out.labels(dataset).inc(finished.completion_tokens)
            metrics.request_seconds.labels(dataset).observe(now - job.submitted_at)
            ttft = None
            if job.first_token_at is not None:
                ttft = job.first_token_at - job.submitted_at
                metrics.time_to_first_token.labels(dataset).observe(ttft)
                if finished.completion_tokens and now > job.first_token_at:
                    metrics.tokens_per_second.labels(dataset).observe(
                        finished.completion_tokens / (now - job.first_token_at)
                    )
            extra: dict[str, Any] = {
                "dataset": dataset,
                "run_id": self.served.run_id,
                "id": self.id,
                "finish_reason": finished.reason,
                "prompt_tokens": finished.prompt_tokens,
                "completion_tokens": finished.completion_tokens,
                "seconds": round(now - job.submitted_at, 3),
                "ttft_s": None if ttft is None else round(ttft, 3),
            }
            if log_prompts:
                extra |= {"prompt": self.served.engine.decode(job.prompt_ids), "completion": text}
            log.info("completion", extra=extra)

    async def _collect(context: _Completion) -> tuple[str, Finished]:
        parts: list[str] = []
        while True:
            piece: Piece = await context.job.out.get()
            if isinstance(piece, Delta):
                parts.append(piece.text)
            else:
                text = "".join(parts)
                context.record(piece, text)
                return text, piece

    async def _stream(context: _Completion, stack: ExitStack, include_usage: bool) -> AsyncIterator[bytes]:
        parts: list[str] = []
        try:
            if context.chat:
                yield sse(
                    chat_chunk(
                        context.id, context.model, context.created, {"role": "assistant", "content": ""}
                    )
                )
            while True:
                piece = await context.job.out.get()
                if isinstance(piece, Delta):
                    parts.append(piece.text)
                    yield context.chunk(piece.text, None)
                    continue
                context.record(piece, "".join(parts))
                if piece.reason == "error":
                    yield sse(
                        error_body(piece.error or "generation failed", "server_error", "generation_failed")
                    )
                else:
                    yield context.chunk(None, piece)
                    if include_usage:
                        used = usage(piece.prompt_tokens, piece.completion_tokens)
                        yield sse(usage_chunk(context.id, context.model, context.created, used, context.chat))
                yield sse("[DONE]")
                return
        finally:
            context.job.cancelled = True  # a no-op when it finished; frees its batch row when the client left
            stack.close()

    secured = [Depends(authorized)]

    @app.get("/v1/models", dependencies=secured)
    def list_models() -> dict[str, Any]:
        data = [model_entry(s.dataset, s.run_id, int(s.loaded_at)) for s in models.current()]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", dependencies=secured)
    async def chat_completions(body: ChatCompletionRequest) -> Response:
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        return await run(body, lambda tokenizer: generation_prompt(messages, tokenizer), chat=True)

    @app.post("/v1/completions", dependencies=secured)
    async def completions(body: CompletionRequest) -> Response:
        return await run(body, lambda tokenizer: body.prompt_text(), chat=False)

    is_ready = ready or (lambda: bool(models.current()))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        served = {s.dataset: s.run_id for s in models.current()}
        if not is_ready():
            return JSONResponse(
                {"status": "not ready", "reason": "no production model loaded yet", "serving": served},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "serving": served})

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return openai_error(400, "the body is not valid JSON", "invalid_json")
        message = "; ".join(f"{_where(e) or 'body'}: {e.get('msg')}" for e in errors)
        return openai_error(400, message, "invalid_request", _where(first) or None)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return openai_error(
            exc.status_code, message, "payload_too_large" if exc.status_code == 413 else "http_error"
        )

    app.add_middleware(
        BodyLimit,
        max_bytes=max_body_bytes,
        reject=lambda message: openai_error(413, message, "payload_too_large"),
    )
    app.add_middleware(RequestMetrics, requests=metrics.requests)
    return app


def _where(error: Any) -> str:
    """A validation error's location without FastAPI's leading ``body``: ``messages.0.role``."""
    return ".".join(str(part) for part in error.get("loc", ()) if part != "body")
