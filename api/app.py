"""The FastAPI application: ``create_app(engine)``; ``gongche serve`` runs it under uvicorn."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api import errors
from api.routes import dispatch, oversight, registry, trips
from fleet.db import make_engine

PREFIX = "/api/v1"
DESCRIPTION = """Gongche 公车: booking, dispatch and audit of government official vehicles.

Send `Authorization: Bearer <token>` (tokens come from `gongche users add NAME --role ROLE [--agency CODE]`).
Roles: **requester** and **approver** act for their own agency; **dispatcher** runs the platform; **driver** records
its own trips; **supervisor** reads everything (audit, violations, reports); **admin** keeps the registry.
Every error is `{"error": code, "detail": sentence, "field": name-or-null}`.
"""


def create_app(engine: Engine | None = None) -> FastAPI:
    """The app over ``engine`` (default: GONGCHE_DATABASE_URL)."""
    app = FastAPI(title="Gongche 公车", version="1", description=DESCRIPTION,
                  openapi_url=f"{PREFIX}/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.engine = engine or make_engine()
    errors.install(app)
    for module in (trips, dispatch, registry, oversight):
        app.include_router(module.router, prefix=PREFIX)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
