"""The admin API's routes: ``/v1`` (bearer token) and the operations endpoints (no token)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from libs.schemas.events import RunId
from services.trainer.api.deps import RequestedBy, Service
from services.trainer.api.schemas import (
    ErrorOut,
    ModelList,
    ModelOut,
    ModelsQuery,
    RunList,
    RunOut,
    RunsQuery,
    Status,
    TrainingRequest,
)

log = logging.getLogger(__name__)


Responses = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


UNAUTHORIZED: Final[Responses] = {401: _error("Missing or wrong bearer token (`WWW-Authenticate: Bearer`).")}
INVALID: Final[Responses] = {
    422: _error("Invalid parameters or body; the message names each offending field.")
}
NOT_FOUND: Final[Responses] = {404: _error("No run with this id.")}
_LOCATION: Final = {"Location": {"description": "The run's URL.", "schema": {"type": "string"}}}

router = APIRouter(prefix="/v1", tags=["trainings"])
ops_router = APIRouter(tags=["ops"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=256,
        pattern=r"^[!-~]+$",
        description="1 to 256 visible ASCII characters. A key seen before returns its run (200) instead of "
        "starting another; the same key with another dataset or other overrides is refused (422).",
    ),
]


@router.post(
    "/trainings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunOut,
    summary="Start a training run",
    responses={
        202: {"description": "Queued: a new run.", "headers": _LOCATION},
        200: {
            "model": RunOut,
            "description": "Replay: the `Idempotency-Key` was used before; this is its run, whatever its "
            "state now (`Idempotent-Replayed: true`). Nothing new was started.",
            "headers": {
                **_LOCATION,
                "Idempotent-Replayed": {"description": "Always `true`.", "schema": {"type": "string"}},
            },
        },
        400: _error("The body is not valid JSON."),
        413: _error("The body is larger than the limit."),
        422: _error(
            "Invalid body or header (`invalid_request`), overrides that do not make a valid training config "
            "(`invalid_overrides`), a dataset not configured for training (`unknown_dataset`), or an "
            "`Idempotency-Key` reused with another request (`idempotency_key_reused`)."
        ),
    },
)
def submit_training(
    body: TrainingRequest,
    request: Request,
    response: Response,
    service: Service,
    requested_by: RequestedBy,
    idempotency_key: IdempotencyKey = None,
) -> RunOut:
    """Queue a run of `dataset` with the dataset's training config, changed by `overrides`.

    The config is resolved and validated before anything is stored. Retrying with the same
    `Idempotency-Key` is safe: the first request creates the run (202), later ones return it (200).
    """
    run, created = service.submit(body.dataset, body.overrides, idempotency_key, requested_by)
    response.headers["Location"] = str(request.url_for("get_training", run_id=run.run_id).path)
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return RunOut.of(run)


@router.get(
    "/trainings",
    response_model=RunList,
    summary="List training runs",
    responses={200: {"description": "Runs, newest first."}, **INVALID},
)
def list_trainings(service: Service, query: Annotated[RunsQuery, Query()]) -> RunList:
    return RunList(runs=[RunOut.of(run) for run in service.list(query.dataset, query.limit)])


@router.get(
    "/trainings/{run_id}",
    response_model=RunOut,
    summary="Get a training run",
    responses={**NOT_FOUND, **INVALID},
)
def get_training(run_id: RunId, service: Service) -> RunOut:
    return RunOut.of(service.get(run_id))


@router.post(
    "/trainings/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunOut,
    summary="Cancel a training run",
    responses={
        202: {"description": "A queued run is cancelled at once; a running one stops at its next step."},
        **NOT_FOUND,
        409: _error("The run has already finished (`run_finished`)."),
        **INVALID,
    },
)
def cancel_training(run_id: RunId, service: Service) -> RunOut:
    """Cancel a run. Asking again while it is still stopping is harmless (202 again)."""
    return RunOut.of(service.cancel(run_id))


@router.get(
    "/models",
    response_model=ModelList,
    summary="List trained models",
    responses={
        200: {"description": "Models, newest first, and the production model of each dataset."},
        **INVALID,
    },
)
def list_models(service: Service, query: Annotated[ModelsQuery, Query()]) -> ModelList:
    return ModelList(
        models=[ModelOut.of(entry) for entry in service.models(query.dataset)],
        production=service.production(query.dataset),
    )


@ops_router.get("/healthz", response_model=Status, summary="Liveness: the process answers")
def healthz() -> Status:
    return Status(status="ok")


@ops_router.get(
    "/readyz",
    response_model=Status,
    summary="Readiness: the service can do its work",
    responses={503: _error("Not ready (`not_ready`): its dependencies do not answer yet.")},
)
def readyz(request: Request) -> Any:
    try:
        ready = bool(request.app.state.readiness())
    except Exception:  # a failing check means "not ready"
        log.warning("readiness check failed", exc_info=True)
        ready = False
    if ready:
        return Status(status="ready")
    body = ErrorOut.model_validate({"error": {"code": "not_ready", "message": "the trainer is not ready"}})
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@ops_router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (no token: expose it inside the cluster only)",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics."}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
