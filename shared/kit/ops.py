"""Liveness, readiness and Prometheus metrics over HTTP, for every service."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def ops_routes(service: Any) -> list[Route]:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"service": service.name, "status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        """Ready: started, both servers answer, every consumer consumes and none is held."""
        checks = {"started": service.ready, "kafka": False, "mongo": False, "consuming": False}
        if service.ready:
            checks["kafka"] = await service.broker.ping(timeout=2.0)
            try:
                await asyncio.wait_for(service.db.command("ping"), timeout=2.0)
                checks["mongo"] = True
            except Exception:
                checks["mongo"] = False
            checks["consuming"] = service.consuming() and service.health.ok
        ok = all(checks.values())
        body = {"service": service.name, "ready": ok, "checks": checks, "held": service.health.report()}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        if service.ready:
            await service.update_gauges()  # lag as of this scrape, per partition
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
