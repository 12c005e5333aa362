"""Dependencies of the admin API's routes: the service, and the bearer-token check."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.common.auth import bearer_token, token_matches
from services.trainer.service import TrainerService

# Who ``requested_by`` names: one admin token means one principal; none means insecure dev mode.
ADMIN: Final = "admin"
ANONYMOUS: Final = "anonymous"

# Declares the scheme in OpenAPI (the "Authorize" button of /docs); the check itself is ``require_admin``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="`Authorization: Bearer <TUNELINE_ADMIN_TOKEN>`",
)


def get_service(request: Request) -> TrainerService:
    service: TrainerService = request.app.state.service
    return service


def requester(request: Request) -> str:
    return ANONYMOUS if request.app.state.admin_token is None else ADMIN


def require_admin(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """401 unless the request carries the admin token (compared in constant time)."""
    expected: str | None = request.app.state.admin_token
    if expected is None:  # insecure dev mode; create_app warned about it
        return
    if not token_matches(bearer_token(request.headers.get("authorization")), expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def actor(
    request: Request,
    x_actor: Annotated[
        str | None,
        Header(
            alias="X-Actor",
            min_length=1,
            max_length=128,
            pattern=r"^[!-~](?:[ -~]*[!-~])?$",
            description="Who is acting, for the audit trail: 1 to 128 visible ASCII characters (inner "
            "spaces allowed), e.g. `alice@example.com`. Recorded as sent, not verified: the one admin token "
            "cannot tell people apart. Without it the change is recorded as by `admin`.",
        ),
    ] = None,
) -> str:
    """Who a registry change is recorded as by: ``X-Actor`` when sent, else the token's principal."""
    return x_actor if x_actor is not None else requester(request)


Service = Annotated[TrainerService, Depends(get_service)]
RequestedBy = Annotated[str, Depends(requester)]
Actor = Annotated[str, Depends(actor)]
