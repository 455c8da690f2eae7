"""Every error is JSON ``{"error": code, "detail": sentence, "field": name-or-null}``, never a stack trace.

What the database turns away under load (no slot or pooled connection in time, the SQLite write queue, a lock or a
deadlock, a statement timeout) is 503 with Retry-After, logged as a warning: the client did nothing wrong and may
send the same request again. Anything else unexpected is a 500 with its traceback in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from dispatch.problem import ProblemError
from fleet.db import busy_reason
from fleet.errors import Busy, FleetError, error_location
from fleet.settings import get_settings

log = logging.getLogger("gongche.api")


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None = None


class ApiError(Exception):
    """An HTTP-level refusal (401, 403, 404 of scope) with the same body as a domain error."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


def _body(error: str, detail: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, "field": field, **extra}


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":  # its location is a character offset, not a field
        return JSONResponse(_body("InvalidInput", "the body is not valid JSON", None), status_code=422)
    loc = [p for p in error_location(first) if p not in ("body", "query", "path", "header")]
    field = ".".join(str(p) for p in loc) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    detail = f"field '{field}': {message}" if field else message
    return JSONResponse(_body("InvalidInput", detail, field), status_code=422)


def _fleet(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FleetError)
    if isinstance(exc, Busy):
        return _busy(request, exc)
    return JSONResponse(exc.to_dict(), status_code=exc.status)


def _busy(request: Request, exc: Busy) -> JSONResponse:
    log.warning("503 on %s %s: %s", request.method, request.url.path, exc.detail)
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers={"Retry-After": str(exc.retry_after)})


def _database(request: Request, exc: Exception) -> JSONResponse:
    reason = busy_reason(exc)
    if reason is None:
        return _unexpected(request, exc)
    return _busy(request, Busy(f"the database turned this request away under load ({reason}); its transaction "
                               f"was rolled back: send it again", retry_after=get_settings().db_retry_after_seconds))


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return JSONResponse(exc.to_dict(), status_code=422)


def _api(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(_body(exc.code, exc.detail, exc.field), status_code=exc.status, headers=headers)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # starlette could not read the body at all (not UTF-8, say)
        return JSONResponse(_body("InvalidInput", "the body is not UTF-8 JSON", None), status_code=422)
    code = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthenticated"}.get(exc.status_code, "HttpError")
    return JSONResponse(_body(code, str(exc.detail), None), status_code=exc.status_code, headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_body("InternalError", "the server failed on this request; it was rolled back", None),
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(FleetError, _fleet)
    app.add_exception_handler(sa_exc.DBAPIError, _database)
    app.add_exception_handler(sa_exc.TimeoutError, _database)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
