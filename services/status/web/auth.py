"""Authentication for the dashboard: ``Authorization: Bearer`` for the API, an HttpOnly
cookie for the browser (set by the login form). Missing or unknown token: 401."""

from __future__ import annotations

from fastapi import HTTPException, Request

from ..access import Principal, Tokens

COOKIE = "casework_token"


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


def principal_of(request: Request) -> Principal | None:
    tokens: Tokens = request.app.state.tokens
    return tokens.authenticate(presented_token(request))


def require_principal(request: Request) -> Principal:
    """FastAPI dependency of every API route."""
    principal = principal_of(request)
    if principal is None:
        raise HTTPException(401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_case_reader(request: Request) -> Principal:
    principal = require_principal(request)
    if not principal.sees_cases:
        raise HTTPException(403, "this token may read aggregates only")
    return principal


def require_aggregate_reader(request: Request) -> Principal:
    principal = require_principal(request)
    if principal.role == "specialist":
        raise HTTPException(403, "aggregates are for supervisors and analysts")
    return principal


def require_actor(request: Request) -> Principal:
    """FastAPI dependency of every state-changing API route."""
    return require_principal(request)
