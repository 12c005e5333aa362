"""The admin API's routes: ``/v1`` (bearer token) and the operations endpoints (no token)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from libs.registry import Production
from libs.schemas.events import RunId, TriggerReason
from libs.schemas.records import DatasetName
from services.trainer.api.deps import Actor, RequestedBy, Service
from services.trainer.api.schemas import (
    DriftOut,
    ErrorOut,
    EvaluationOut,
    ModelList,
    ModelOut,
    ModelsQuery,
    ProductionOut,
    PromoteRequest,
    RollbackRequest,
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
        409: _error(
            "A `drift` run while the dataset has a run active or is in its cooldown (`cooling_down`): "
            "nothing was started."
        ),
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
    run, created = service.submit(
        body.dataset, body.overrides, idempotency_key, requested_by, TriggerReason(body.reason)
    )
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


BODY_ERRORS: Final[Responses] = {
    400: _error("The body is not valid JSON."),
    413: _error("The body is larger than the limit."),
}
REPORT_NOT_HERE: Final = _error(
    "No such run (`run_not_found`), or the file is not here (`report_not_found`): not written yet, or the "
    "model is kept in S3 (the message gives the file's s3:// URI)."
)
ChartName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The chart's file name without `.png`: 1 to 64 of `A-Z a-z 0-9 _ -`.",
        examples=["metrics"],
    ),
]


def _count_change(request: Request, production: Production) -> None:
    request.app.state.production_changes.labels(dataset=production.dataset, action=production.action).inc()


@router.post(
    "/models/{run_id}/promote",
    response_model=ProductionOut,
    summary="Promote a model to production by hand",
    tags=["models"],
    responses={
        200: {"description": "The dataset's production model now (this run's), with its history."},
        **NOT_FOUND,
        409: _error(
            "The run has no model to promote (`not_promotable`: not succeeded, or no `model_uri`), or the "
            "production model changed while this request ran (`production_changed`: look, then retry)."
        ),
        **BODY_ERRORS,
        **INVALID,
    },
)
def promote_model(
    run_id: RunId, body: PromoteRequest, request: Request, service: Service, actor: Actor
) -> ProductionOut:
    """Make this run's model its dataset's production model, whatever the evaluator decided.

    A manual override, audited: the change joins the dataset's history with `action` `manual_promote`,
    `by` the `X-Actor` header (`admin` without it) and the `reason`. Promoting the model that is already
    in production changes nothing (200, no new entry). Undo it with `POST /v1/models/rollback`.
    """
    production, changed = service.promote(run_id, actor, body.reason)
    if changed:
        _count_change(request, production)
    return ProductionOut.of(production)


@router.post(
    "/models/rollback",
    response_model=ProductionOut,
    summary="Roll a dataset back to its previous production model",
    tags=["models"],
    responses={
        200: {"description": "The dataset's production model now (the previous one), with its history."},
        404: _error("The dataset is not configured (`dataset_not_found`)."),
        409: _error(
            "There is no earlier production model to go back to (`nothing_to_roll_back`), or the "
            "production model changed while this request ran (`production_changed`: look, then retry)."
        ),
        **BODY_ERRORS,
        **INVALID,
    },
)
def rollback_model(body: RollbackRequest, request: Request, service: Service, actor: Actor) -> ProductionOut:
    """Put back the model that was production before the current one (`previous_run_id`).

    Audited like a promotion: `action` `rollback`, `by` the `X-Actor` header (`admin` without it), the
    `reason`. Rolling back twice in a row swaps the two latest models back again.
    """
    production = service.rollback(body.dataset, actor, body.reason)
    _count_change(request, production)
    return ProductionOut.of(production)


@router.get(
    "/models/{dataset}/production",
    response_model=ProductionOut,
    summary="Get a dataset's production model and its history",
    tags=["models"],
    responses={
        200: {"description": "The production model and every change of it, oldest first."},
        404: _error("The dataset has no production model (`production_not_found`)."),
        **INVALID,
    },
)
def get_production(dataset: DatasetName, service: Service) -> ProductionOut:
    return ProductionOut.of(service.production_of(dataset))


DRIFT_NOT_FOUND: Final = _error("No continuous-evaluation check of the dataset yet (`drift_not_found`).")


@router.get(
    "/models/{dataset}/drift",
    response_model=DriftOut,
    summary="Get the latest continuous evaluation of a dataset's production model",
    tags=["models"],
    responses={
        200: {"description": "The latest drift report, with one history entry per check."},
        404: DRIFT_NOT_FOUND,
        **INVALID,
    },
)
def get_drift(dataset: DatasetName, service: Service) -> DriftOut:
    """How the production model does on the records that arrived since its training, per source, next to
    its evaluation at promotion; which sources drifted and the `drift` training run requested, if any."""
    return DriftOut.of(service.drift(dataset))


@router.get(
    "/models/{dataset}/drift.md",
    response_class=Response,
    summary="Get the latest continuous evaluation as Markdown",
    tags=["models"],
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "description": "The report, from `<model folder>/drift/drift.md`.",
        },
        404: _error(
            "No check yet (`drift_not_found`), or the file is not here (`report_not_found`: the model is "
            "kept in S3; the message gives the file's s3:// URI)."
        ),
        **INVALID,
    },
)
def get_drift_markdown(dataset: DatasetName, service: Service) -> Response:
    return Response(service.drift_markdown(dataset).read_bytes(), media_type="text/markdown; charset=utf-8")


@router.get(
    "/models/{dataset}/drift/charts/{name}.png",
    response_class=Response,
    summary="Get a chart of the latest continuous evaluation",
    tags=["models"],
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The chart (`drift`: the metric per source over the checks).",
        },
        404: _error("No check yet (`drift_not_found`), or no such chart here (`report_not_found`)."),
        **INVALID,
    },
)
def get_drift_chart(dataset: DatasetName, name: ChartName, service: Service) -> Response:
    return Response(service.drift_chart(dataset, name).read_bytes(), media_type="image/png")


@router.get(
    "/evaluations/{run_id}",
    response_model=EvaluationOut,
    summary="Get a run's evaluation report",
    tags=["evaluations"],
    responses={
        200: {"description": "The evaluator's decision and its full report (JSON)."},
        404: _error("The run has no stored evaluation (`evaluation_not_found`)."),
        **INVALID,
    },
)
def get_evaluation(run_id: RunId, service: Service) -> EvaluationOut:
    return EvaluationOut.of(service.evaluation(run_id))


@router.get(
    "/evaluations/{run_id}/report.md",
    response_class=Response,
    summary="Get a run's evaluation report as Markdown",
    tags=["evaluations"],
    responses={
        200: {
            "content": {"text/markdown": {"schema": {"type": "string"}}},
            "description": "The report, from `<model folder>/evaluation/report.md`.",
        },
        404: REPORT_NOT_HERE,
        **INVALID,
    },
)
def get_report_markdown(run_id: RunId, service: Service) -> Response:
    """The Markdown report the evaluator wrote next to a model kept in a local folder."""
    path = service.report_markdown(run_id)
    return Response(path.read_bytes(), media_type="text/markdown; charset=utf-8")


@router.get(
    "/evaluations/{run_id}/charts/{name}.png",
    response_class=Response,
    summary="Get a chart of a run's evaluation report",
    tags=["evaluations"],
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The chart, from `<model folder>/evaluation/<name>.png`.",
        },
        404: REPORT_NOT_HERE,
        **INVALID,
    },
)
def get_report_chart(run_id: RunId, name: ChartName, service: Service) -> Response:
    """A PNG chart of the report (the report JSON lists them), for a model kept in a local folder."""
    path = service.report_chart(run_id, name)
    return Response(path.read_bytes(), media_type="image/png")


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
