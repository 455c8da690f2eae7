"""The console (the built front end, ``web/dist``) at ``/``, and the API's documentation pages from local assets.

``mount_console(app)`` adds, after every route the app already has:

- ``/docs`` (Swagger UI) and ``/redoc``, whose scripts, styles and icon the console's build copies from npm into
  ``/assets/vendor/`` (their URLs in ``dist/vendor.json``): the pages load nothing from another origin, Google fonts
  included;
- every other GET outside ``/api``: the file of that name in ``dist``, else ``index.html``, so that the console's
  own routes (``/trips``, ``/map``) load it. Under ``/assets/`` names carry a content hash and are cached for ever;
  anything else (``index.html``, ``vendor.json``, the icon) is revalidated on every load. A missing file with an
  extension, or under ``/assets/``, is a 404 rather than the page;
- a Content-Security-Policy that lets the pages reach their own origin only, so that even a library changed to
  fetch a font or a tile from elsewhere is stopped by the browser.

``/api/…`` never reaches the console: an unknown API path keeps the API's own JSON 404 (or 405). Without a built
``web/dist`` the API runs as before and ``/``, ``/docs`` and ``/redoc`` answer a short page saying how to build it.
Call it last in ``create_app``, with ``FastAPI(docs_url=None, redoc_url=None)`` so that FastAPI's own pages, which
load from CDNs, are not there.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from fleet.i18n import msg

DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
API_PREFIX = "/api"

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def _policy(*, inline_scripts: bool) -> str:
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'" + (" 'unsafe-inline'" if inline_scripts else ""),  # FastAPI starts Swagger UI inline
        "style-src 'self' 'unsafe-inline'",  # Ant Design, Swagger UI and Redoc write their styles at run time
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",  # MapLibre's worker (a file of ours), Redoc's search (a blob)
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


CONSOLE_POLICY = _policy(inline_scripts=False)
DOCS_POLICY = _policy(inline_scripts=True)
PAGE_HEADERS = {"Cache-Control": NO_CACHE, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

NOT_BUILT = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>公车调度平台 · Gongche</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.6">
<h1>控制台尚未构建 · The console is not built</h1>
<p>在仓库根目录运行 <code>make web</code>
（或 <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>），然后刷新本页。</p>
<p>Run <code>make web</code> in the repository (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>),
then reload this page. It looked for <code>{dist}</code>.</p>
<p>接口照常可用 · The API is served as usual under <code>/api/v1</code>.</p>
</body></html>
"""


def console_dir() -> Path:
    """Where the built console is: ``GONGCHE_CONSOLE_DIR``, else ``web/dist`` of this checkout."""
    configured = os.environ.get("GONGCHE_CONSOLE_DIR")
    return Path(configured) if configured else DEFAULT_DIST


def is_built(dist: Path) -> bool:
    return (dist / "index.html").is_file() and (dist / "vendor.json").is_file()


def vendor_urls(dist: Path) -> dict[str, str]:
    """The docs pages' asset URLs the build wrote (``swagger_js``, ``swagger_css``, ``swagger_favicon``,
    ``redoc_js``)."""
    urls: dict[str, str] = json.loads((dist / "vendor.json").read_text(encoding="utf-8"))
    return urls


def _not_built(dist: Path) -> HTMLResponse:
    return HTMLResponse(NOT_BUILT.replace("{dist}", html.escape(str(dist))), status_code=503,
                        headers={**PAGE_HEADERS, "Content-Security-Policy": CONSOLE_POLICY})


class ConsoleRoute(Route):
    """GET and HEAD of any path outside ``/api``: it goes last, after the routes it must not shadow."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if path == API_PREFIX or path.startswith(f"{API_PREFIX}/"):
            return Match.NONE, {}
        return super().matches(scope)


def mount_console(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the console at ``/`` and the docs pages at ``/docs`` and ``/redoc`` (see the module's text).

    ``dist`` defaults to `console_dir()`; whether it is built is looked at on each request, so a build made while
    the server runs is served without a restart.
    """
    where = dist or console_dir()
    taken = {str(getattr(route, "path", "")) for route in app.router.routes} & {"/docs", "/redoc"}
    if taken:
        raise RuntimeError(f"{', '.join(sorted(taken))} already routed: create the app with "
                           "FastAPI(docs_url=None, redoc_url=None); mount_console serves them from local assets")
    files = StaticFiles(directory=where, check_dir=False, follow_symlink=False)
    openapi_url = app.openapi_url or "/openapi.json"

    def docs(request: Request) -> Response:
        if not is_built(where):
            return _not_built(where)
        urls = vendor_urls(where)
        parameters: dict[str, Any] = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}
        page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} · API", oauth2_redirect_url=None,
                                   swagger_js_url=urls["swagger_js"], swagger_css_url=urls["swagger_css"],
                                   swagger_favicon_url=urls["swagger_favicon"], swagger_ui_parameters=parameters)
        page.headers.update({**PAGE_HEADERS, "Content-Security-Policy": DOCS_POLICY})
        return page

    def redoc(request: Request) -> Response:
        if not is_built(where):
            return _not_built(where)
        urls = vendor_urls(where)
        page = get_redoc_html(openapi_url=openapi_url, title=f"{app.title} · API", redoc_js_url=urls["redoc_js"],
                              redoc_favicon_url=urls["swagger_favicon"], with_google_fonts=False)
        page.headers.update({**PAGE_HEADERS, "Content-Security-Policy": DOCS_POLICY})
        return page

    async def console(request: Request) -> Response:
        if not is_built(where):
            return _not_built(where)
        path: str = request.path_params["path"]
        if path and not path.endswith("/"):
            try:
                response = await files.get_response(path, request.scope)
            except HTTPException as missing:
                if missing.status_code != 404:
                    raise
                if path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]:
                    raise HTTPException(404, msg("no file /{path}", path=path)) from None
            else:
                immutable = path.startswith("assets/")
                response.headers["Cache-Control"] = IMMUTABLE if immutable else NO_CACHE
                response.headers["X-Content-Type-Options"] = "nosniff"
                if path.endswith(".html"):
                    response.headers["Content-Security-Policy"] = CONSOLE_POLICY
                return response
        if path.startswith("assets/"):
            raise HTTPException(404, msg("no file /{path}", path=path))
        page = await files.get_response("index.html", request.scope)  # the console routes the path itself
        page.headers.update({**PAGE_HEADERS, "Content-Security-Policy": CONSOLE_POLICY})
        return page

    app.add_route("/docs", docs, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route("/redoc", redoc, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.routes.append(ConsoleRoute("/{path:path}", console, methods=["GET", "HEAD"], include_in_schema=False))
