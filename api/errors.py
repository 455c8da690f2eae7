"""Every error is JSON ``{"error": code, "detail": sentence, "field": name-or-null}``, never a stack trace.

The ``detail`` is in the request's language (``Accept-Language``: Chinese for any ``zh``, else English, see
`fleet.i18n`), with ``Content-Language`` saying which; the code, the field and the numbers are the same in both.

What the database turns away under load (no slot or pooled connection in time, the SQLite write queue, a lock or a
deadlock, a statement timeout) is 503 with Retry-After, logged as a warning: the client did nothing wrong and may
send the same request again. Anything else unexpected is a 500 with its traceback in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.problem import ProblemError
from fleet.db import busy_reason
from fleet.errors import Busy, FleetError, error_location
from fleet.i18n import ENGLISH, Language, Message, content_language, field_message, msg, negotiate, pydantic_message
from fleet.i18n import translate as translate_text
from fleet.settings import get_settings

log = logging.getLogger("gongche.api")
T = TypeVar("T")

_language: ContextVar[Language] = ContextVar("gongche_language", default=ENGLISH)
"""The language of the request being served (`LanguageMiddleware` sets it from ``Accept-Language``)."""


class LanguageMiddleware:
    """Reads the request's ``Accept-Language`` once, for routes that translate what they answer (`translated`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", ()) if k == b"accept-language"), b"")
        token = _language.set(negotiate(header.decode("latin-1")))
        try:
            await self.app(scope, receive, send)
        finally:
            _language.reset(token)


def request_language() -> Language:
    """The language of the request being served (English outside a request)."""
    return _language.get()


def translated(value: T) -> T:
    """``value`` with every message in it (in models, lists and mappings) rendered in the request's language:
    what a route answers with sentences made by `fleet.i18n.msg`, such as usage-audit findings."""
    language = _language.get()
    return value if language == ENGLISH else _translated(value, language)


def _translated(value: Any, language: str) -> Any:
    if isinstance(value, Message):
        return translate_text(value, language)
    if isinstance(value, BaseModel):
        changed = {name: new for name in type(value).model_fields
                   if (new := _translated(old := getattr(value, name), language)) is not old}
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, list | tuple):
        items = [_translated(item, language) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, Mapping) and not isinstance(value, str):
        entries = {key: _translated(item, language) for key, item in value.items()}
        return entries if any(entries[k] is not value[k] for k in entries) else value
    return value


def language_of(request: Request) -> Language:
    return negotiate(request.headers.get("accept-language"))


def _answer(request: Request, body: dict[str, Any], status: int,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The error body with its ``detail`` in the request's language, saying which in ``Content-Language``."""
    language = language_of(request)
    detail = body.get("detail")
    if isinstance(detail, str):
        body = {**body, "detail": translate_text(detail, language)}
    return JSONResponse(body, status_code=status, headers={
        **(headers or {}), "Content-Language": content_language(language), "Vary": "Accept-Language"})


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None = None


class ApiError(Exception):
    """An HTTP-level refusal (401, 403, 404 of scope) with the same body as a domain error."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field
        self.headers = dict(headers or {})  # what the answer needs besides the body: a 429's Retry-After


def _body(error: str, detail: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, "field": field, **extra}


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":  # its location is a character offset, not a field
        return _answer(request, _body("InvalidInput", msg("the body is not valid JSON"), None), 422)
    loc = [p for p in error_location(first) if p not in ("body", "query", "path", "header")]
    field = ".".join(str(p) for p in loc) or None
    reason = pydantic_message(first) if first else msg("invalid request")
    return _answer(request, _body("InvalidInput", field_message(field, reason), field), 422)


def _fleet(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FleetError)
    if isinstance(exc, Busy):
        return _busy(request, exc)
    return _answer(request, exc.to_dict(), exc.status)


def _busy(request: Request, exc: Busy) -> JSONResponse:
    log.warning("503 on %s %s: %s", request.method, request.url.path, exc.detail)
    return _answer(request, exc.to_dict(), exc.status, {"Retry-After": str(exc.retry_after)})


def _database(request: Request, exc: Exception) -> JSONResponse:
    reason = busy_reason(exc)
    if reason is None:
        return _unexpected(request, exc)
    return _busy(request, Busy(msg("the database turned this request away under load ({reason}); its transaction "
                                   "was rolled back: send it again", reason=reason),
                               retry_after=get_settings().db_retry_after_seconds))


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return _answer(request, exc.to_dict(), 422)


def _api(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return _answer(request, _body(exc.code, exc.detail, exc.field), exc.status, {**headers, **exc.headers})


# starlette's own details for the statuses it answers itself (its reason phrases), as messages.
_HTTP_DETAILS: dict[int, Message] = {
    404: msg("Not Found"),
    405: msg("Method Not Allowed"),
    401: msg("Unauthorized"),
}


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # starlette could not read the body at all (not UTF-8, say)
        return _answer(request, _body("InvalidInput", msg("the body is not UTF-8 JSON"), None), 422)
    code = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthenticated"}.get(exc.status_code, "HttpError")
    known = _HTTP_DETAILS.get(exc.status_code)
    if isinstance(exc.detail, Message):  # our own sentence (the console's "no file"): translated as it is
        detail: str = exc.detail
    else:
        detail = known if known is not None and known == exc.detail else str(exc.detail)
    return _answer(request, _body(code, detail, None), exc.status_code, exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(request, _body("InternalError", msg("the server failed on this request; it was rolled back"),
                                  None), 500)


def install(app: FastAPI) -> None:
    app.add_middleware(LanguageMiddleware)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(FleetError, _fleet)
    app.add_exception_handler(sa_exc.DBAPIError, _database)
    app.add_exception_handler(sa_exc.TimeoutError, _database)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
