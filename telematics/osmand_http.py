"""The OsmAnd / Traccar Client HTTP listener, at ``/`` on ``osmand_port`` as Traccar's own, so that the apps work
unchanged: GET or POST with the query (or form) parameters, or POST of the JSON form.

200 (empty) once the fix is durable; 400 with ``{"error", "detail", "field"}`` naming the parameter for bad input;
400 too for a device id the registry binds to no vehicle (Traccar answers 400 to unknown devices, and the apps
treat any non-200 as "send again later"; a device whose vehicle has an active JT/T 808 terminal is no OsmAnd device:
only that authenticated terminal speaks for it); a JSON batch with a bad fix has its good fixes stored and is
answered 400 naming the bad one's field (the resend's good fixes are duplicates, stored once); 413 for a body
over ``MAX_BODY`` (refused from its Content-Length, or once that many bytes were read: a huge body is never held);
503 with ``Retry-After`` when the database did not take the fix or the sink is full (overload: refusing at once is
cheaper than holding thousands of waiting requests); never a 500: an
unforeseen failure is logged and answered 400 naming ``body``.

A POST body is read as JSON when its Content-Type says so or it starts with ``{``/``[``; otherwise as form
parameters when its Content-Type is a form, text, or missing (Traccar reads such a body as a query string too).

A small Starlette app served by ``uvicorn.Server`` on the ingest's loop (its startup and shutdown, not its signal
handling: the ingest owns SIGTERM). Device ids are bound through a map of every vehicle's terminal number, loaded
at most every ``_REFRESH`` seconds (a miss reloads it, at most every ``_MISS_REFRESH`` seconds, so that a device
just recorded in the registry is found soon without letting unknown ids cost a query each).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fleet import clock, terminals
from fleet.db import unit_of_work
from fleet.enums import PositionSource
from fleet.i18n import msg
from fleet.positions import Fix, Raw, refusal
from fleet.settings import Settings, get_settings
from telematics.osmand import OsmAndError, OsmAndReport, parse_json_each, parse_query
from telematics.sink import Sink, SinkError

log = logging.getLogger("gongche.telematics.osmand")

_REFRESH = 60.0
_MISS_REFRESH = 5.0
MAX_BODY = 64 * 1024  # a Traccar Client / OsmAnd batch of a hundred fixes is well below
RETRY_AFTER_SECONDS = 5
_FORM_TYPES = ("application/x-www-form-urlencoded", "text/plain", "")


class Bindings:
    """Device id (zeros stripped) -> vehicle id, from the registry, cached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._map: dict[str, int] = {}
        self._loaded_at = -1e9
        self._loading: asyncio.Future[None] | None = None

    def _load(self) -> dict[str, int]:
        with unit_of_work(self.engine, readonly=True) as session:
            return terminals.bindings(session)

    async def _reload(self) -> None:
        if self._loading is None:  # one load at a time; the others wait for it
            self._loading = asyncio.get_running_loop().create_future()
            try:
                self._map = await asyncio.to_thread(self._load)
                self._loaded_at = time.monotonic()
            finally:
                loading, self._loading = self._loading, None
                loading.set_result(None)
        else:
            await asyncio.shield(self._loading)

    async def vehicle(self, device_id: str) -> int | None:
        age = time.monotonic() - self._loaded_at
        key = terminals.normalise(device_id)
        if age > _REFRESH or (key not in self._map and age > _MISS_REFRESH):
            try:
                await self._reload()
            except Exception:
                if key not in self._map:
                    raise
                log.warning("device bindings could not be reloaded; the cached ones are used", exc_info=True)
        return self._map.get(key)


def _refused(field: str, detail: str, status: int = 400) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse({"error": "InvalidInput", "detail": detail, "field": field}, status_code=status,
                        headers=headers)


class _TooLarge(Exception):
    pass


async def _body(request: Request) -> bytes:
    """The request's body, refused (``_TooLarge``) as soon as it is known to exceed ``MAX_BODY``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def to_fix(report: OsmAndReport, vehicle_id: int) -> Fix:
    extras: dict[str, Any] = dict(report.attributes)
    if report.battery is not None:
        extras["battery"] = report.battery
    return Fix(vehicle_id=vehicle_id, fixed_at=report.fixed_at, lat=report.lat, lon=report.lon,
               speed_kmh=report.speed_kmh, course=report.course, altitude_m=report.altitude_m,
               accuracy_m=report.accuracy_m, acc=report.acc, mileage_km=report.mileage_km,
               source=PositionSource.osmand, extras=extras or None)


def make_app(sink: Sink, bindings: Bindings, settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    keep_raw = settings.telematics_raw_retention_days > 0
    skew = settings.clock_skew_minutes

    async def report(request: Request) -> Response:
        try:
            return await _report(request)
        except _TooLarge:
            return _refused("body", msg("the request body is larger than {limit} bytes", limit=MAX_BODY), 413)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        except Exception:  # never a 500 with a stack trace: logged here, the client told its report was not taken
            log.exception("an OsmAnd report could not be handled")
            return _refused("body", msg("the report could not be read"))

    async def _report(request: Request) -> Response:
        now = clock.now()
        body = await _body(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        time_field = "timestamp"
        try:
            if content_type == "application/json" or (request.method == "POST" and body[:1] in (b"{", b"[")):
                try:
                    payload = json.loads(body)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    return _refused("body", msg("the request body is not JSON"))
                each = parse_json_each(payload, now)
                if isinstance(payload.get("location"), list):  # a refused time names its place in the batch
                    time_field = "location[{i}].timestamp"
            else:
                params = dict(request.query_params)
                if content_type in _FORM_TYPES and body:
                    params.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
                each = [parse_query(params, now)]
        except OsmAndError as error:
            return _refused(error.field, error.reason)
        # A batch with a bad fix: the good ones are stored and the bad one's field named in a 400 (the app resends
        # the batch; the good ones are then duplicates, stored once). Refusing the whole batch would lose them.
        reports = [one for one in each if isinstance(one, OsmAndReport)]
        first_bad: tuple[str, str] | None = next(
            ((one.field, one.reason) for one in each if isinstance(one, OsmAndError)), None)
        fixes: list[Fix] = []
        for i, one in enumerate(each):
            if isinstance(one, OsmAndError):
                continue
            try:
                vehicle_id = await bindings.vehicle(one.device_id)
            except Exception:  # the registry cannot be read now: the app sends again later
                log.warning("device %s could not be looked up", one.device_id[:64], exc_info=True)
                return _refused("id", msg("the position could not be stored now; send it again"), 503)
            if vehicle_id is None:
                return _refused("id", msg("device {device} is not bound to a vehicle in the registry",
                                          device=one.device_id[:64]))
            why = refusal(one.fixed_at, now, skew)
            if why is not None:
                first_bad = first_bad or (time_field.format(i=i), why)
                continue
            fixes.append(to_fix(one, vehicle_id))
        if not fixes:  # a parse gives at least one report or refusal
            return _refused(*(first_bad or ("body", msg("the report could not be read"))))
        raw: tuple[Raw, ...] = ()
        if keep_raw:
            request_line = f"{request.method} {request.url.path}?{request.url.query}\n".encode()
            raw = (Raw(now, PositionSource.osmand, reports[0].device_id[:64], request_line + body),)
        if sink.full:  # overload: the app sends again later
            return _refused("body", msg("the position could not be stored now; send it again"), 503)
        try:
            await sink.submit(fixes, raw)
        except SinkError:
            return _refused("body", msg("the position could not be stored now; send it again"), 503)
        return Response(status_code=200) if first_bad is None else _refused(*first_bad)

    return Starlette(routes=[Route("/", report, methods=["GET", "POST"])])


class OsmAndServer:
    """The HTTP listener: started and stopped by the ingest on its loop."""

    def __init__(self, engine: Engine, sink: Sink, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.app = make_app(sink, Bindings(engine), self.settings)
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: any free port); the port bound."""
        config = uvicorn.Config(self.app, host=host, port=port, lifespan="off", access_log=False,
                                log_level="warning", timeout_keep_alive=30, server_header=False,
                                limit_concurrency=self.settings.ingest_max_connections)
        config.load()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server, self._socket = server, sock
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.config.timeout_graceful_shutdown = 5
            await self._server.shutdown(sockets=[self._socket] if self._socket else None)
