"""The admin API's app factory: routes, bearer auth, JSON errors everywhere and request metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter
from starlette.exceptions import HTTPException

from libs.common.asgi import BodyLimit, RequestMetrics
from services.trainer.api.deps import require_admin
from services.trainer.api.routes import UNAUTHORIZED, ops_router, router
from services.trainer.core.errors import ConfigError, InvalidTransition, RunNotFound, UnknownDataset
from services.trainer.service import (
    CoolingDown,
    DatasetNotFound,
    DriftNotFound,
    EvaluationNotFound,
    IdempotencyKeyReused,
    NothingToRollBack,
    NotPromotable,
    ProductionChanged,
    ProductionNotFound,
    ReportFileNotFound,
    TrainerService,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 64 * 1024

DESCRIPTION: Final = """\
Start, follow and cancel fine-tuning runs; list the trained models; see each dataset's production model
with its audit history, promote a model by hand or roll back; read the evaluator's reports.

**Auth**: every `/v1` route needs `Authorization: Bearer <admin token>` (401 otherwise).
`/healthz`, `/readyz`, `/metrics` and the OpenAPI spec need none: keep the port inside the cluster.

**Idempotency**: send an `Idempotency-Key` header with `POST /v1/trainings` to retry safely. The first
request with a key creates the run (202); any later one returns that run (200, `Idempotent-Replayed: true`)
and starts nothing. Reusing a key with another dataset or other overrides is refused (422).
Keys do not expire.

**Errors**: every error, validation errors included, is `{"error": {"code": "...", "message": "..."}}`.
A dataset that is not configured for training is a 422 (`unknown_dataset`): the URL exists, the body
refers to something that does not. Bodies are JSON up to 64 KiB (413 beyond); unknown body fields and
query parameters are refused (422), and override numbers must be finite, integers within +-(2^53 - 1).

**Production models**: the evaluator promotes models on its own; `POST /v1/models/{run_id}/promote`
overrides it and `POST /v1/models/rollback` puts the previous model back. Both need a `reason` and are
recorded in the dataset's history (`GET /v1/models/{dataset}/production`) with `by` set to the `X-Actor`
header when sent (1 to 128 visible ASCII characters), else `admin`. The token is shared, so `X-Actor` is
taken as sent: it names who acts, it proves nothing. A change that loses a race with another one is a 409
(`production_changed`) and changes nothing. Rolling back names the dataset to act on, so a dataset that is
not configured is a 404 there (`dataset_not_found`), unlike the 422 of a training request.
"""

# Domain errors -> (status, code).
DOMAIN_ERRORS: Final[dict[type[Exception], tuple[int, str]]] = {
    UnknownDataset: (422, "unknown_dataset"),
    ConfigError: (422, "invalid_overrides"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    RunNotFound: (404, "run_not_found"),
    InvalidTransition: (409, "run_finished"),
    DatasetNotFound: (404, "dataset_not_found"),
    NotPromotable: (409, "not_promotable"),
    ProductionChanged: (409, "production_changed"),
    NothingToRollBack: (409, "nothing_to_roll_back"),
    ProductionNotFound: (404, "production_not_found"),
    EvaluationNotFound: (404, "evaluation_not_found"),
    ReportFileNotFound: (404, "report_not_found"),
    DriftNotFound: (404, "drift_not_found"),
    CoolingDown: (409, "cooling_down"),
}
HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "not_ready",
}


def create_app(
    service: TrainerService,
    admin_token: str | None,
    readiness: Callable[[], bool] = lambda: True,
    registry: CollectorRegistry | None = None,
    docs: bool = False,
) -> FastAPI:
    """The admin API. ``admin_token`` None runs without auth (insecure dev mode, warned about once).

    Metrics go to ``registry``, a fresh one when None (so that many apps can live in one process).
    ``docs`` serves ``/docs`` and ``/redoc``: FastAPI's pages load their JavaScript from a CDN, so they
    are off unless asked for; ``/openapi.json`` is always served.
    """
    if admin_token is None:
        log.warning("admin API running WITHOUT authentication (insecure dev mode)")
    app = FastAPI(
        title="tuneline trainer admin API",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.service = service
    app.state.admin_token = admin_token
    app.state.readiness = readiness
    app.state.metrics_registry = registry if registry is not None else CollectorRegistry(auto_describe=True)

    secured: dict[str, Any] = {}
    if admin_token is not None:
        secured = {"dependencies": [Depends(require_admin)], "responses": UNAUTHORIZED}
    app.include_router(router, **secured)
    app.include_router(ops_router)

    for error in DOMAIN_ERRORS:
        app.add_exception_handler(error, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    requests = Counter(
        "tuneline_trainer_api_requests",
        "Admin API requests by route template and status code.",
        ["route", "status"],
        registry=app.state.metrics_registry,
    )
    app.state.production_changes = Counter(
        "tuneline_trainer_production_changes",
        "Production model changes made through the admin API, by dataset and action.",
        ["dataset", "action"],
        registry=app.state.metrics_registry,
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, reject=_too_large)
    app.add_middleware(RequestMetrics, requests=requests)  # outermost: counts every response
    return app


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = next(v for k, v in DOMAIN_ERRORS.items() if isinstance(exc, k))
    return error_response(status, code, str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (detail.get("ctx") or {}).get("error", "JSON decode error")
        return error_response(400, "malformed_json", f"the body is not valid JSON: {reason}")
    return error_response(422, "invalid_request", "; ".join(_describe(e) for e in errors))


def _describe(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] == "body" and len(loc) > 1:
        loc = loc[1:]  # "overrides.seed", not "body.overrides.seed"
    where = ".".join(loc) or "request"
    message = str(error.get("msg", "invalid"))
    return f"{where}: {message.removeprefix('Value error, ')}"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette lists only the first matching route's methods
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (RFC 9110: a 405's Allow lists them all)."""
    path = request.url.path
    methods: set[str] = set()
    for route in [*router.routes, *ops_router.routes]:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error in the admin API",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return error_response(500, "internal_error", "unexpected error; see the trainer's logs")


def _too_large(message: str) -> JSONResponse:
    return error_response(413, "payload_too_large", message)
