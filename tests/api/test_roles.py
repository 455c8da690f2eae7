"""Who may call what: every route x every caller, own agency and other agency, kept as one table.

``TABLE`` gives, for each route of the app, the status each caller gets for one real, valid request against an
object of agency A (WH-GA): requester-a and approver-a are "own", requester-b and approver-b "other". A route the
app serves that the table lacks fails the suite, and so does a table row with no route behind it.

Statuses: 200/201 the call went through and did what it says; 401 no token; 403 the role is outside the route;
404 the object is in another agency (or, for a driver, not a trip it drives) and is hidden as if it did not exist.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from fleet import clock, queries
from fleet.db import make_engine
from fleet.enums import PositionSource
from fleet.migrate import upgrade
from fleet.models import Agency, AuditRecord, LatestPosition, Position, Trip, User, Vehicle
from fleet.settings import get_settings
from tests.api.conftest import (
    AGENCY_A,
    AGENCY_B,
    COUNTY_USERS,
    DAY,
    YARD_A,
    YARD_B,
    Api,
    City,
    at,
    seed_city,
    trip_body,
)
from tests.factories import plate, vin

CALLERS = ("anonymous", "requester-a", "requester-b", "approver-a", "approver-b", "dispatcher", "driver-a",
           "supervisor", "admin")

Key = tuple[str, str]
V1 = "/api/v1"

# One row per route; the columns are CALLERS, in order.
#            anon requester-a/-b approver-a/-b dispatcher driver-a supervisor admin
TABLE: dict[Key, tuple[int, int, int, int, int, int, int, int, int]] = {
    # trips: the target trip belongs to agency A
    ("POST", f"{V1}/trips"):                              (401, 201, 403, 201, 403, 201, 403, 403, 403),
    ("GET", f"{V1}/trips"):                               (401, 200, 200, 200, 200, 200, 200, 200, 403),
    ("GET", f"{V1}/trips/export"):                        (401, 200, 200, 200, 200, 200, 200, 200, 403),
    ("GET", f"{V1}/vocabulary"):                          (401, 200, 200, 200, 200, 200, 200, 200, 200),
    # signing in: anyone may try (the body names requester-a); one changes only one's own password (requester-a's
    # is the one sent: the others' current password is wrong); logging out without a session ends nothing
    ("POST", f"{V1}/auth/login"):                         (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", f"{V1}/auth/logout"):                        (204, 204, 204, 204, 204, 204, 204, 204, 204),
    ("POST", f"{V1}/auth/password"):                      (401, 204, 403, 403, 403, 403, 403, 403, 403),
    ("GET", f"{V1}/auth/me"):                             (401, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/trips/{{trip_id}}"):                   (401, 200, 404, 200, 404, 200, 200, 200, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/approve"):          (401, 403, 403, 200, 404, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/reject"):           (401, 403, 403, 200, 404, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/cancel"):           (401, 200, 404, 200, 404, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/assign"):           (401, 403, 403, 403, 403, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/unassign"):         (401, 403, 403, 403, 403, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/start"):            (401, 403, 403, 403, 403, 200, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/complete"):         (401, 403, 403, 403, 403, 200, 200, 403, 403),
    ("GET", f"{V1}/trips/{{trip_id}}/slip"):              (401, 200, 404, 200, 404, 200, 200, 200, 403),
    # dispatch
    ("POST", f"{V1}/dispatch"):                           (401, 403, 403, 403, 403, 200, 403, 403, 403),
    ("GET", f"{V1}/dispatch/runs"):                       (401, 403, 403, 403, 403, 200, 403, 200, 403),
    ("GET", f"{V1}/dispatch/runs/{{run_id}}"):            (401, 403, 403, 403, 403, 200, 403, 200, 403),
    # the day board (the platform and supervisors) and the places a booking form offers (anyone signed in)
    ("GET", f"{V1}/board"):                               (401, 403, 403, 403, 403, 200, 403, 200, 403),
    ("GET", f"{V1}/places"):                              (401, 200, 200, 200, 200, 200, 200, 200, 200),
    # the console's base map: no sign-in needed; the test city configures no PMTiles archive (tests/api/test_basemap)
    ("GET", f"{V1}/console/config"):                      (200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/map/tiles.pmtiles"):                   (404, 404, 404, 404, 404, 404, 404, 404, 404),
    # registry: the admin writes; the platform (dispatcher) and supervisors read
    ("POST", f"{V1}/jurisdictions"):                      (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/agencies"):                            (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("POST", f"{V1}/agencies"):                           (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/quotas"):                              (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("PUT", f"{V1}/quotas"):                              (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/plans"):                              (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/plans"):                               (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/plans/{{plan_id}}"):                   (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/plans/{{plan_id}}/review"):            (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/submit"):           (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/approve"):          (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/reject"):           (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", f"{V1}/vehicles"):                            (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}"):             (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/vehicles/available"):                  (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/calendar"):    (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("POST", f"{V1}/vehicles"):                           (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("POST", f"{V1}/plan-lines/{{line_id}}/acquire"):     (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("POST", f"{V1}/vehicles/renew"):                     (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/transfer"):   (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/dispose"):    (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/seal"):       (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/unseal"):     (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/maintenance-in"):  (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/maintenance-out"): (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/costs"):      (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/drivers"):                             (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("POST", f"{V1}/drivers"):                            (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("POST", f"{V1}/drivers/{{driver_id}}/deactivate"):   (401, 403, 403, 403, 403, 403, 403, 403, 200),
    # oversight: supervisors and the admin read
    ("GET", f"{V1}/audit"):                               (401, 403, 403, 403, 403, 403, 403, 200, 200),
    ("GET", f"{V1}/audit/verify"):                        (401, 403, 403, 403, 403, 403, 403, 200, 200),
    ("GET", f"{V1}/violations"):                          (401, 403, 403, 403, 403, 403, 403, 200, 200),
    ("GET", f"{V1}/reports/annual"):                      (401, 403, 403, 403, 403, 403, 403, 200, 200),
    # users and their tokens: the admin manages them (the target is approver-a, of agency A)
    ("GET", f"{V1}/users"):                               (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/users"):                              (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("POST", f"{V1}/users/{{user_id}}/deactivate"):       (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/users/{{user_id}}/rotate-token"):     (401, 403, 403, 403, 403, 403, 403, 403, 200),
    # 定点租赁: the admin keeps the providers, the platform reads them; the dispatcher rents and bills trips
    ("POST", f"{V1}/rental-providers"):                   (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/rental-providers"):                    (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("PATCH", f"{V1}/rental-providers/{{code}}"):         (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/trips/{{trip_id}}/rent"):             (401, 403, 403, 403, 403, 200, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/rental-bill"):      (401, 403, 403, 403, 403, 200, 403, 403, 403),
    # 统一核算: supervisors (finance) and the admin read the monthly statement
    ("GET", f"{V1}/statements"):                          (401, 403, 403, 403, 403, 403, 403, 200, 200),
    # records the office keeps: the admin edits and reorganises (机构改革); the platform and supervisors read the
    # ledger, the yearly account and the reminders
    ("PATCH", f"{V1}/vehicles/{{vehicle_id}}"):           (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("PATCH", f"{V1}/drivers/{{driver_id}}"):             (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("PATCH", f"{V1}/agencies/{{code}}"):                 (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/agencies/{{code}}/merge-into"):       (401, 403, 403, 403, 403, 403, 403, 403, 200),
    ("POST", f"{V1}/agencies/{{code}}/split"):            (401, 403, 403, 403, 403, 403, 403, 403, 201),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/costs"):       (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/account"):     (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/reminders"):                           (401, 403, 403, 403, 403, 200, 403, 200, 200),
    # tracks and the live map (issue 15): the platform and supervisors read where vehicles went and are, the admin
    # too for vehicles (is a terminal reporting?); a trip's track is the board's readers'; drivers and agency roles
    # read none
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/track"):       (401, 403, 403, 403, 403, 200, 403, 200, 200),
    ("GET", f"{V1}/trips/{{trip_id}}/track"):             (401, 403, 403, 403, 403, 200, 403, 200, 403),
    ("GET", f"{V1}/positions/latest"):                    (401, 403, 403, 403, 403, 200, 403, 200, 200),
}


# Callers for part of the platform (fleet.scopes): the district 江岸区 (COUNTY)'s dispatcher, supervisor (纪检监察)
# and admin. The seeded city puts agency A in the city and agency B in the district; its mirror image puts A in the
# district. For each route, the same request as in TABLE (against agency A's object), by the district's callers:
# first with A outside their scope (404 as if absent, 403 for a whole-platform act, a list without A), then with A
# inside it. Objects of agency B some requests name (gen-b1, driver-b, the transfer's receiving agency) swap sides
# with it.
#                                           A outside: dispatcher supervisor admin | A inside: the same
SCOPED: dict[Key, tuple[int, int, int, int, int, int]] = {
    ("POST", f"{V1}/trips"):                              (404, 403, 403, 201, 403, 403),
    ("GET", f"{V1}/trips"):                               (200, 200, 403, 200, 200, 403),
    ("GET", f"{V1}/trips/export"):                        (200, 200, 403, 200, 200, 403),
    ("GET", f"{V1}/vocabulary"):                          (200, 200, 200, 200, 200, 200),
    ("POST", f"{V1}/auth/login"):                         (200, 200, 200, 200, 200, 200),
    ("POST", f"{V1}/auth/logout"):                        (204, 204, 204, 204, 204, 204),
    ("POST", f"{V1}/auth/password"):                      (403, 403, 403, 403, 403, 403),
    ("GET", f"{V1}/auth/me"):                             (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/trips/{{trip_id}}"):                   (404, 404, 403, 200, 200, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/approve"):          (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/reject"):           (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/cancel"):           (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/assign"):           (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/unassign"):         (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/start"):            (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/complete"):         (404, 403, 403, 200, 403, 403),
    ("GET", f"{V1}/trips/{{trip_id}}/slip"):              (404, 404, 403, 200, 200, 403),
    # a district's run takes the district's trips only; the run read is the whole platform's dispatcher's
    ("POST", f"{V1}/dispatch"):                           (200, 403, 403, 200, 403, 403),
    ("GET", f"{V1}/dispatch/runs"):                       (200, 200, 403, 200, 200, 403),
    ("GET", f"{V1}/dispatch/runs/{{run_id}}"):            (404, 404, 403, 404, 404, 403),
    ("GET", f"{V1}/board"):                               (200, 200, 403, 200, 200, 403),
    ("GET", f"{V1}/places"):                              (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/console/config"):                      (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/map/tiles.pmtiles"):                   (404, 404, 404, 404, 404, 404),
    # the request names the city (420100): above the district either way
    ("POST", f"{V1}/jurisdictions"):                      (403, 403, 404, 403, 403, 404),
    ("GET", f"{V1}/agencies"):                            (200, 200, 200, 200, 200, 200),
    ("POST", f"{V1}/agencies"):                           (403, 403, 404, 403, 403, 404),
    ("GET", f"{V1}/quotas"):                              (200, 200, 200, 200, 200, 200),
    ("PUT", f"{V1}/quotas"):                              (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/plans"):                              (403, 403, 404, 403, 403, 201),
    ("GET", f"{V1}/plans/{{plan_id}}"):                   (404, 404, 404, 200, 200, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/submit"):           (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/approve"):          (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/plans/{{plan_id}}/reject"):           (403, 403, 404, 403, 403, 200),
    ("GET", f"{V1}/vehicles"):                            (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}"):             (404, 404, 404, 200, 200, 200),
    ("GET", f"{V1}/vehicles/available"):                  (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/calendar"):    (404, 404, 404, 200, 200, 200),
    ("POST", f"{V1}/vehicles"):                           (403, 403, 404, 403, 403, 201),
    ("POST", f"{V1}/plan-lines/{{line_id}}/acquire"):     (403, 403, 404, 403, 403, 201),
    ("POST", f"{V1}/vehicles/renew"):                     (403, 403, 404, 403, 403, 201),
    # to agency B: outside the district when A is inside it
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/transfer"):   (403, 403, 404, 403, 403, 404),
    # gen-b1: agency B's
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/dispose"):    (403, 403, 200, 403, 403, 404),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/seal"):       (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/unseal"):     (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/maintenance-in"):  (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/maintenance-out"): (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/vehicles/{{vehicle_id}}/costs"):      (403, 403, 404, 403, 403, 201),
    ("GET", f"{V1}/drivers"):                             (200, 200, 200, 200, 200, 200),
    ("POST", f"{V1}/drivers"):                            (403, 403, 404, 403, 403, 201),
    # driver-b: agency B's
    ("POST", f"{V1}/drivers/{{driver_id}}/deactivate"):   (403, 403, 200, 403, 403, 404),
    ("GET", f"{V1}/audit"):                               (403, 200, 200, 403, 200, 200),
    # the chain's proof covers every agency's records: the whole platform's
    ("GET", f"{V1}/audit/verify"):                        (403, 403, 403, 403, 403, 403),
    ("GET", f"{V1}/violations"):                          (403, 200, 200, 403, 200, 200),
    ("GET", f"{V1}/reports/annual"):                      (403, 404, 404, 403, 200, 200),
    ("GET", f"{V1}/users"):                               (403, 403, 200, 403, 403, 200),
    ("POST", f"{V1}/users"):                              (403, 403, 404, 403, 403, 201),
    ("POST", f"{V1}/users/{{user_id}}/deactivate"):       (403, 403, 404, 403, 403, 200),
    ("POST", f"{V1}/users/{{user_id}}/rotate-token"):     (403, 403, 404, 403, 403, 200),
    ("GET", f"{V1}/plans"):                               (200, 200, 200, 200, 200, 200),
    ("GET", f"{V1}/plans/{{plan_id}}/review"):            (404, 404, 404, 200, 200, 200),
    ("POST", f"{V1}/rental-providers"):                   (403, 403, 403, 403, 403, 403),
    ("PATCH", f"{V1}/vehicles/{{vehicle_id}}"):           (403, 403, 404, 403, 403, 200),
    ("PATCH", f"{V1}/drivers/{{driver_id}}"):             (403, 403, 404, 403, 403, 200),
    ("PATCH", f"{V1}/agencies/{{code}}"):                 (403, 403, 404, 403, 403, 200),
    # into agency B: outside the district when A is inside it
    ("POST", f"{V1}/agencies/{{code}}/merge-into"):       (403, 403, 404, 403, 403, 404),
    ("POST", f"{V1}/agencies/{{code}}/split"):            (403, 403, 404, 403, 403, 201),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/costs"):       (404, 404, 404, 200, 200, 200),
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/account"):     (404, 404, 404, 200, 200, 200),
    # the request names agency A
    ("GET", f"{V1}/reminders"):                           (404, 404, 404, 200, 200, 200),
    # rental providers are the platform's contracts: any reader lists them, only a whole-platform admin changes them
    ("GET", f"{V1}/rental-providers"):                    (200, 200, 200, 200, 200, 200),
    ("PATCH", f"{V1}/rental-providers/{{code}}"):         (403, 403, 403, 403, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/rent"):             (404, 403, 403, 200, 403, 403),
    ("POST", f"{V1}/trips/{{trip_id}}/rental-bill"):      (404, 403, 403, 200, 403, 403),
    # the request names agency A
    ("GET", f"{V1}/statements"):                          (403, 404, 404, 403, 200, 200),
    # le-a1 and agency A's trip: absent outside the district; the live map lists the district's vehicles only
    ("GET", f"{V1}/vehicles/{{vehicle_id}}/track"):       (404, 404, 404, 200, 200, 200),
    ("GET", f"{V1}/trips/{{trip_id}}/track"):             (404, 404, 403, 200, 200, 403),
    ("GET", f"{V1}/positions/latest"):                    (200, 200, 200, 200, 200, 200),
}

# Routes whose scope is still to be applied: each moves to SCOPED once its route checks the caller's scope through
# api.deps.scope_of / fleet.scopes.
SCOPE_PENDING: set[Key] = set()

# Answers that name agency A by design whoever asks: signing in as requester-a answers requester-a; the yards of
# every agency are places anyone may travel to.
NAMES_A_BY_DESIGN: set[Key] = {("POST", f"{V1}/auth/login"), ("GET", f"{V1}/places")}

# An event stream never ends, so one request cannot be judged here; tests/api/test_events.py checks who may open it.
STREAMS: set[Key] = {("GET", f"{V1}/events")}


def app_routes() -> set[Key]:
    """(method, path) of every route the app documents (its API routes; /docs, /openapi.json and /healthz are
    left out by their include_in_schema=False), event streams aside."""
    app = create_app(sa.create_engine("sqlite://"))
    found: set[Key] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        found.update((method, str(context.path_format)) for method in route.methods or ())
    return found - STREAMS


def test_every_route_is_in_the_table() -> None:
    routes = app_routes()
    missing = sorted(routes - TABLE.keys())
    stale = sorted(TABLE.keys() - routes)
    assert not missing, f"routes missing from the role table: {missing}"
    assert not stale, f"role-table rows with no route: {stale}"
    assert len(routes) >= 40  # a sanity check that the router walk sees the included routers


def test_every_route_has_a_scoped_row() -> None:
    """Every route says what a caller for part of the platform gets, in and out of its scope (or is listed as
    still to be scoped)."""
    assert not SCOPED.keys() & SCOPE_PENDING, sorted(SCOPED.keys() & SCOPE_PENDING)
    assert SCOPED.keys() | SCOPE_PENDING == TABLE.keys(), sorted((SCOPED.keys() | SCOPE_PENDING) ^ TABLE.keys())


def test_every_route_has_a_request() -> None:
    assert REQUESTS.keys() == TABLE.keys(), sorted(REQUESTS.keys() ^ TABLE.keys())


# --- requests: for each route, the objects it needs are built first, then one valid request is described ---


def call(api: Api, user: str | None, method: str, url: str, **kwargs: Any) -> Any:
    """``METHOD /api/v1{url}`` as ``user`` (None: no token)."""
    headers = {"Authorization": f"Bearer {api.city.tokens[user]}"} if user else {}
    return api.client.request(method, V1 + url, headers=headers, **kwargs)


@dataclass
class Req:
    path: dict[str, int | str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] | None = None


@dataclass
class Ctx:
    api: Api
    engine: Engine

    def ok(self, user: str, method: str, url: str, json: Any = None, expected: int = 200) -> dict[str, Any]:
        r = call(self.api, user, method, url, json=json)
        assert r.status_code == expected, f"setup {method} {url} as {user}: {r.status_code} {r.text}"
        body: dict[str, Any] = r.json()
        return body

    @property
    def vehicles(self) -> dict[str, int]:
        return self.api.city.vehicles

    @property
    def drivers(self) -> dict[str, int]:
        return self.api.city.drivers

    # trips of agency A in each state
    def requested(self) -> int:
        return int(self.ok("requester-a", "POST", "/trips", trip_body(), 201)["id"])

    def approved(self) -> int:
        trip_id = self.requested()
        self.ok("approver-a", "POST", f"/trips/{trip_id}/approve", {"note": "同意"})
        return trip_id

    def assigned(self) -> int:
        trip_id = self.approved()
        self.ok("dispatcher", "POST", f"/trips/{trip_id}/assign",
                {"vehicle_id": self.vehicles["le-a1"], "driver_id": self.drivers["driver-a"]})
        return trip_id

    def dispatched(self) -> int:
        """A finished dispatch run over the day (one approved trip), its id."""
        self.approved()
        run = self.ok("dispatcher", "POST", "/dispatch", {
            "start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(), "time_limit": 0.2})
        return int(run["run_id"])

    def in_progress(self) -> int:
        trip_id = self.assigned()
        self.ok("driver-a", "POST", f"/trips/{trip_id}/start", {"odometer_km": 100})
        return trip_id

    # plans
    def plan(self, line: dict[str, Any]) -> int:
        body = {"agency": AGENCY_A, "year": TODAY.year, "title": "年度配备更新计划", "lines": [line]}
        return int(self.ok("admin", "POST", "/plans", body, 201)["id"])

    def submitted_plan(self, line: dict[str, Any] | None = None) -> int:
        plan_id = self.plan(line or NEW_LINE)
        self.ok("admin", "POST", f"/plans/{plan_id}/submit")
        return plan_id

    def approved_line(self, line: dict[str, Any]) -> int:
        plan_id = self.submitted_plan(line)
        return int(self.ok("admin", "POST", f"/plans/{plan_id}/approve")["lines"][0]["id"])


TODAY = clock.today()
NEW_LINE = {"kind": "new", "category": "general", "powertrain": "bev", "count": 1, "unit_price_cny": "150000"}


def vehicle_body(serial: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plate": plate(serial), "vin": vin(serial), "model": "比亚迪 秦", "category": "general",
        "powertrain": "ice", "seats": 5, "price_cny": "150000", "displacement_l": "1.5",
        "acquired_on": TODAY.isoformat(),
    }
    body.update(overrides)
    return body


def bev_body(serial: int, **overrides: Any) -> dict[str, Any]:
    return vehicle_body(serial, plate=plate(serial, nev=True), powertrain="bev", displacement_l=None, range_km=450,
                        **overrides)


REQUESTS: dict[Key, Callable[[Ctx], Req]] = {}


def request_for(method: str, path: str) -> Callable[[Callable[[Ctx], Req]], Callable[[Ctx], Req]]:
    def register(build: Callable[[Ctx], Req]) -> Callable[[Ctx], Req]:
        REQUESTS[(method, V1 + path)] = build
        return build

    return register


@request_for("POST", "/trips")
def _book(c: Ctx) -> Req:
    # Naming agency A: its own agency for requester-a/approver-a, another for requester-b/approver-b, and the
    # agency the platform books for.
    return Req(json=trip_body(agency=AGENCY_A))


@request_for("GET", "/vocabulary")
def _vocabulary(c: Ctx) -> Req:
    return Req()


@request_for("POST", "/auth/login")
def _login(c: Ctx) -> Req:
    return Req(json={"name": "requester-a", "password": c.api.city.passwords["requester-a"]})


@request_for("POST", "/auth/logout")
def _logout(c: Ctx) -> Req:
    return Req()


@request_for("POST", "/auth/password")
def _password(c: Ctx) -> Req:
    return Req(json={"current": c.api.city.passwords["requester-a"], "new": "a-new-password-2030"})


@request_for("GET", "/auth/me")
def _me(c: Ctx) -> Req:
    return Req()


@request_for("GET", "/trips")
def _list_trips(c: Ctx) -> Req:
    c.requested()
    return Req(params={"limit": 10})


@request_for("GET", "/trips/export")
def _export_trips(c: Ctx) -> Req:
    c.requested()
    return Req(params={"format": "csv", "since": DAY.isoformat()})


@request_for("GET", "/trips/{trip_id}")
def _get_trip(c: Ctx) -> Req:
    return Req({"trip_id": c.assigned()})


@request_for("POST", "/trips/{trip_id}/approve")
def _approve(c: Ctx) -> Req:
    # the approver's note, and the basis a dispatcher must give for an approval given outside the platform
    return Req({"trip_id": c.requested()}, {"note": "王处长电话同意用车"})


@request_for("POST", "/trips/{trip_id}/reject")
def _reject(c: Ctx) -> Req:
    return Req({"trip_id": c.requested()}, {"note": "事由不充分"})


@request_for("POST", "/trips/{trip_id}/cancel")
def _cancel(c: Ctx) -> Req:
    return Req({"trip_id": c.requested()}, {"note": "会议取消"})


@request_for("POST", "/trips/{trip_id}/assign")
def _assign(c: Ctx) -> Req:
    return Req({"trip_id": c.approved()}, {"vehicle_id": c.vehicles["le-a1"], "driver_id": c.drivers["driver-a"]})


@request_for("POST", "/trips/{trip_id}/unassign")
def _unassign(c: Ctx) -> Req:
    return Req({"trip_id": c.assigned()}, {"note": "车辆故障"})


@request_for("POST", "/trips/{trip_id}/start")
def _start(c: Ctx) -> Req:
    return Req({"trip_id": c.assigned()}, {"odometer_km": 100})


@request_for("POST", "/trips/{trip_id}/complete")
def _complete(c: Ctx) -> Req:
    return Req({"trip_id": c.in_progress()}, {"odometer_km": 130})


@request_for("GET", "/trips/{trip_id}/slip")
def _slip(c: Ctx) -> Req:
    return Req({"trip_id": c.assigned()}, params={"format": "html"})


@request_for("POST", "/dispatch")
def _dispatch(c: Ctx) -> Req:
    c.approved()
    return Req(json={"start": at(0).isoformat(), "end": at(0, day=DAY + timedelta(days=1)).isoformat(),
                     "time_limit": 1})


@request_for("GET", "/dispatch/runs")
def _runs(c: Ctx) -> Req:
    c.dispatched()
    return Req(params={"limit": 5})


@request_for("GET", "/dispatch/runs/{run_id}")
def _run(c: Ctx) -> Req:
    return Req({"run_id": c.dispatched()})


@request_for("GET", "/board")
def _board(c: Ctx) -> Req:
    c.assigned()
    c.approved()
    return Req(params={"day": DAY.isoformat()})


@request_for("GET", "/places")
def _places(c: Ctx) -> Req:
    c.requested()
    return Req(params={"q": "区", "limit": 10})


@request_for("GET", "/console/config")
def _console_config(c: Ctx) -> Req:
    return Req()


@request_for("GET", "/map/tiles.pmtiles")
def _pmtiles(c: Ctx) -> Req:
    return Req()


@request_for("POST", "/jurisdictions")
def _add_jurisdiction(c: Ctx) -> Req:
    return Req(json={"code": "420103", "name": "江汉区", "level": "county", "parent": "420100"})


@request_for("GET", "/agencies")
def _agencies(c: Ctx) -> Req:
    return Req()


@request_for("POST", "/agencies")
def _add_agency(c: Ctx) -> Req:
    return Req(json={"code": "WH-JT", "name": "武汉市交通运输局", "jurisdiction": "420100"})


@request_for("GET", "/quotas")
def _quotas(c: Ctx) -> Req:
    return Req()


@request_for("PUT", "/quotas")
def _set_quota(c: Ctx) -> Req:
    return Req(json={"agency": AGENCY_A, "category": "general", "limit": 3, "reason": "编制调整"})


@request_for("POST", "/plans")
def _create_plan(c: Ctx) -> Req:
    return Req(json={"agency": AGENCY_A, "year": TODAY.year, "title": "年度配备计划", "lines": [NEW_LINE]})


@request_for("GET", "/plans/{plan_id}")
def _get_plan(c: Ctx) -> Req:
    return Req({"plan_id": c.plan(NEW_LINE)})


@request_for("GET", "/plans")
def _list_plans(c: Ctx) -> Req:
    c.plan(NEW_LINE)
    return Req(params={"agency": AGENCY_A, "status": "draft"})


@request_for("GET", "/plans/{plan_id}/review")
def _review_plan(c: Ctx) -> Req:
    return Req({"plan_id": c.submitted_plan()})


@request_for("POST", "/plans/{plan_id}/submit")
def _submit_plan(c: Ctx) -> Req:
    return Req({"plan_id": c.plan(NEW_LINE)})


@request_for("POST", "/plans/{plan_id}/approve")
def _approve_plan(c: Ctx) -> Req:
    return Req({"plan_id": c.submitted_plan()})


@request_for("POST", "/plans/{plan_id}/reject")
def _reject_plan(c: Ctx) -> Req:
    return Req({"plan_id": c.submitted_plan()}, {"reason": "超出编制"})


@request_for("GET", "/vehicles")
def _vehicles(c: Ctx) -> Req:
    return Req(params={"agency": AGENCY_A})


@request_for("GET", "/vehicles/{vehicle_id}")
def _get_vehicle(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a1"]})


@request_for("GET", "/vehicles/available")
def _available(c: Ctx) -> Req:
    c.assigned()
    return Req(params={"start": at(8).isoformat(), "end": at(12).isoformat(), "category": "law_enforcement"})


@request_for("GET", "/vehicles/{vehicle_id}/calendar")
def _calendar(c: Ctx) -> Req:
    c.assigned()
    return Req({"vehicle_id": c.vehicles["le-a1"]}, params={"since": DAY.isoformat(), "until": DAY.isoformat()})


@request_for("POST", "/vehicles")
def _register(c: Ctx) -> Req:
    return Req(json={"agency": AGENCY_A, "vehicle": vehicle_body(90001, acquired_on="2024-05-01")})


@request_for("POST", "/plan-lines/{line_id}/acquire")
def _acquire(c: Ctx) -> Req:
    return Req({"line_id": c.approved_line(NEW_LINE)}, bev_body(90002))


@request_for("POST", "/vehicles/renew")
def _renew(c: Ctx) -> Req:
    old = c.vehicles["le-a1"]
    with Session(c.engine) as session:
        old_plate = queries.vehicle(session, old).plate
    line = {"kind": "renewal", "category": "law_enforcement", "powertrain": "bev", "count": 1,
            "unit_price_cny": "150000", "replaces": [old_plate], "early_renewal_basis": "accident_beyond_repair",
            "early_renewal_reason": "事故损毁, 经鉴定无修复价值"}
    return Req(json={"plan_line_id": c.approved_line(line), "replaced_vehicle_id": old,
                     "vehicle": bev_body(90003, category="law_enforcement"),
                     "disposal": {"method": "auction", "disposed_on": TODAY.isoformat(), "proceeds_cny": "20000"}})


@request_for("POST", "/vehicles/{vehicle_id}/transfer")
def _transfer(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a1"]},
               {"to_agency": AGENCY_B, "transferred_on": TODAY.isoformat(), "reason": "调剂使用"})


@request_for("POST", "/vehicles/{vehicle_id}/dispose")
def _dispose(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["gen-b1"]},
               {"method": "auction", "disposed_on": TODAY.isoformat(), "proceeds_cny": "20000"})


@request_for("POST", "/vehicles/{vehicle_id}/seal")
def _seal(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a2"]}, {"reason": "闲置封存"})


@request_for("POST", "/vehicles/{vehicle_id}/unseal")
def _unseal(c: Ctx) -> Req:
    c.ok("admin", "POST", f"/vehicles/{c.vehicles['le-a2']}/seal", {"reason": "闲置封存"})
    return Req({"vehicle_id": c.vehicles["le-a2"]}, {"reason": "恢复使用"})


@request_for("POST", "/vehicles/{vehicle_id}/maintenance-in")
def _maintenance_in(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a2"]},
               {"reason": "定期保养", "odometer_km": 1000, "on": TODAY.isoformat()})


@request_for("POST", "/vehicles/{vehicle_id}/maintenance-out")
def _maintenance_out(c: Ctx) -> Req:
    c.ok("admin", "POST", f"/vehicles/{c.vehicles['le-a2']}/maintenance-in", {"reason": "定期保养"})
    return Req({"vehicle_id": c.vehicles["le-a2"]}, {"reason": "保养完成"})


@request_for("POST", "/vehicles/{vehicle_id}/costs")
def _cost(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a1"]},
               {"kind": "fuel", "incurred_on": TODAY.isoformat(), "amount_cny": "300.50"})


@request_for("GET", "/drivers")
def _drivers(c: Ctx) -> Req:
    return Req()


@request_for("POST", "/drivers")
def _add_driver(c: Ctx) -> Req:
    return Req(json={"name": "王师傅", "licence_class": "C1", "agency": AGENCY_A, "shift_start": "08:00",
                     "shift_end": "17:00"})


@request_for("POST", "/drivers/{driver_id}/deactivate")
def _deactivate(c: Ctx) -> Req:
    return Req({"driver_id": c.drivers["driver-b"]}, {"reason": "调离岗位"})


@request_for("GET", "/audit")
def _audit(c: Ctx) -> Req:
    return Req(params={"entity": "trip", "limit": 5})


@request_for("GET", "/audit/verify")
def _verify(c: Ctx) -> Req:
    return Req()


@request_for("GET", "/violations")
def _violations(c: Ctx) -> Req:
    return Req(params={"since": at(0).isoformat(), "until": at(23).isoformat()})


@request_for("GET", "/reports/annual")
def _annual(c: Ctx) -> Req:
    return Req(params={"year": TODAY.year, "agency": AGENCY_A})


def _user_id(c: Ctx, name: str) -> int:
    with c.engine.connect() as conn:
        return int(conn.scalar(sa.select(User.id).where(User.name == name)))


@request_for("GET", "/users")
def _users(c: Ctx) -> Req:
    return Req(params={"active": True})


@request_for("POST", "/users")
def _add_user(c: Ctx) -> Req:
    return Req(json={"name": "requester-a2", "role": "requester", "agency": AGENCY_A})


@request_for("POST", "/users/{user_id}/deactivate")
def _deactivate_user(c: Ctx) -> Req:
    return Req({"user_id": _user_id(c, "approver-a")}, {"reason": "调离"})


@request_for("POST", "/users/{user_id}/rotate-token")
def _rotate_user_token(c: Ctx) -> Req:
    return Req({"user_id": _user_id(c, "approver-a")}, {"days": 30})


RENTAL_PROVIDER = {"code": "ZL-WH", "name": "武汉市公务用车定点租赁公司", "base_cny": "50", "per_km_cny": "2.5",
                   "per_hour_cny": "30", "max_seats": 7}


def _rented(c: Ctx) -> int:
    c.ok("admin", "POST", "/rental-providers", RENTAL_PROVIDER, 201)
    trip_id = c.approved()
    c.ok("dispatcher", "POST", f"/trips/{trip_id}/rent", {"provider": "ZL-WH"})
    return trip_id


@request_for("POST", "/rental-providers")
def _add_rental_provider(c: Ctx) -> Req:
    return Req(json=RENTAL_PROVIDER)


@request_for("GET", "/rental-providers")
def _rental_providers(c: Ctx) -> Req:
    c.ok("admin", "POST", "/rental-providers", RENTAL_PROVIDER, 201)
    return Req()


@request_for("PATCH", "/rental-providers/{code}")
def _update_rental_provider(c: Ctx) -> Req:
    c.ok("admin", "POST", "/rental-providers", RENTAL_PROVIDER, 201)
    return Req({"code": "ZL-WH"}, {"per_km_cny": "2.8", "contract_until": "2031-12-31"})


@request_for("POST", "/trips/{trip_id}/rent")
def _rent(c: Ctx) -> Req:
    c.ok("admin", "POST", "/rental-providers", RENTAL_PROVIDER, 201)
    return Req({"trip_id": c.approved()}, {"provider": "ZL-WH"})


@request_for("POST", "/trips/{trip_id}/rental-bill")
def _rental_bill(c: Ctx) -> Req:
    # The bill's end is now (a rental's end is never in the future): a trip of agency A picked up this morning,
    # booked after the fact by the dispatcher with the agency's phoned approval, and rented.
    c.ok("admin", "POST", "/rental-providers", RENTAL_PROVIDER, 201)
    pickup = clock.now() - timedelta(hours=3)
    trip_id = int(c.ok("dispatcher", "POST", "/trips", trip_body(
        agency=AGENCY_A, earliest_pickup=pickup.isoformat(), latest_pickup=(pickup + timedelta(minutes=30)).isoformat(),
        backfill_reason="电话约车，事后补录", approval_basis="王处长电话同意"), 201)["id"])
    c.ok("dispatcher", "POST", f"/trips/{trip_id}/rent", {"provider": "ZL-WH"})
    return Req({"trip_id": trip_id}, {"km": 18.5})


@request_for("GET", "/statements")
def _statements(c: Ctx) -> Req:
    trip_id = _rented(c)  # one trip of the month, rented and billed as it ends
    with clock.travel(at(11)):
        c.ok("dispatcher", "POST", f"/trips/{trip_id}/rental-bill", {"km": 18.5, "at": at(11).isoformat()})
    return Req(params={"month": f"{DAY:%Y-%m}", "agency": AGENCY_A})


@request_for("PATCH", "/vehicles/{vehicle_id}")
def _amend_vehicle(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a1"]}, {"colour": "白", "insurance_expires_on": "2031-06-30"})


@request_for("PATCH", "/drivers/{driver_id}")
def _amend_driver(c: Ctx) -> Req:
    return Req({"driver_id": c.drivers["driver-a"]}, {"licence_expires_on": "2032-01-31", "phone": "13800138000"})


@request_for("PATCH", "/agencies/{code}")
def _amend_agency(c: Ctx) -> Req:
    return Req({"code": AGENCY_A}, {"name": "市公安局"})


@request_for("POST", "/agencies/{code}/merge-into")
def _merge(c: Ctx) -> Req:
    return Req({"code": AGENCY_A}, {"into": AGENCY_B, "on": TODAY.isoformat(), "reason": "机构改革 合并"})


@request_for("POST", "/agencies/{code}/split")
def _split(c: Ctx) -> Req:
    with Session(c.engine) as session:
        le_plate = queries.vehicle(session, c.vehicles["le-a2"]).plate
    return Req({"code": AGENCY_A}, {"into": [{"code": "WH-GA-ZD", "name": "执法总队", "vehicles": [le_plate],
                                              "quotas": {"law_enforcement": 1}}],
                                    "on": TODAY.isoformat(), "reason": "机构改革 分设"})


@request_for("GET", "/vehicles/{vehicle_id}/costs")
def _costs(c: Ctx) -> Req:
    c.ok("admin", "POST", f"/vehicles/{c.vehicles['le-a1']}/costs",
         {"kind": "fuel", "incurred_on": TODAY.isoformat(), "amount_cny": "300.50"}, 201)
    return Req({"vehicle_id": c.vehicles["le-a1"]}, params={"kind": "fuel", "limit": 10})


@request_for("GET", "/vehicles/{vehicle_id}/account")
def _account(c: Ctx) -> Req:
    return Req({"vehicle_id": c.vehicles["le-a1"]}, params={"year": TODAY.year})


@request_for("GET", "/reminders")
def _reminders(c: Ctx) -> Req:
    return Req(params={"within_days": 400, "agency": AGENCY_A, "kind": ["inspection", "renewal"]})


def _fixes(c: Ctx) -> None:
    """A few fixes of agency A's le-a1 and agency B's le-b1 on the city's day (as the ingest's writer leaves them)."""
    with Session(c.engine) as session, session.begin():
        for name, (lat, lon) in (("le-a1", YARD_A), ("le-b1", YARD_B)):
            vehicle = c.vehicles[name]
            for minute in range(3):
                session.add(Position(vehicle_id=vehicle, fixed_at=at(9, minute), received_at=at(9, minute),
                                     lat=lat + minute / 1000, lon=lon, source=PositionSource.jt808))
            session.add(LatestPosition(vehicle_id=vehicle, fixed_at=at(9, 2), received_at=at(9, 2), lat=lat + 0.002,
                                       lon=lon, source=PositionSource.jt808))


@request_for("GET", "/vehicles/{vehicle_id}/track")
def _vehicle_track(c: Ctx) -> Req:
    _fixes(c)
    return Req({"vehicle_id": c.vehicles["le-a1"]}, params={"start": at(8).isoformat(), "end": at(10).isoformat()})


@request_for("GET", "/trips/{trip_id}/track")
def _trip_track(c: Ctx) -> Req:
    _fixes(c)
    return Req({"trip_id": c.assigned()})


@request_for("GET", "/positions/latest")
def _latest_positions(c: Ctx) -> Req:
    _fixes(c)
    return Req()


# --- the table, checked ---


@pytest.fixture(scope="module")
def shared_app() -> Iterator[tuple[FastAPI, TestClient]]:
    """One app for the module: a new app's first request costs ~0.2 s (FastAPI builds its route contexts lazily),
    which over ~400 requests would dominate the run. Each test still gets its own database copy."""
    placeholder = sa.create_engine("sqlite://")
    app = create_app(placeholder)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client
    placeholder.dispose()


@pytest.fixture
def api(shared_app: tuple[FastAPI, TestClient], city_engine: Engine, city: City) -> Api:
    """conftest's ``api``, over the shared app pointed at this test's copy of the city."""
    app, client = shared_app
    app.state.engine = city_engine
    client.cookies.clear()  # a sign-in of an earlier test left its session cookie
    return Api(client, city)


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep /audit/verify and the policy lookup off the working directory (no var/audit.key written there)."""
    monkeypatch.setenv("GONGCHE_AUDIT_KEY", "test-audit-key")
    monkeypatch.setenv("GONGCHE_AUDIT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    monkeypatch.setenv("GONGCHE_POLICY_DIR", str(tmp_path / "policies"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _audit_records(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(AuditRecord)) or 0)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("key", sorted(TABLE), ids=lambda key: f"{key[0]} {key[1].removeprefix(V1)}")
def test_route_by_caller(api: Api, city_engine: Engine, key: Key, caller: str) -> None:
    expected = TABLE[key][CALLERS.index(caller)]
    method, template = key
    req = REQUESTS[key](Ctx(api, city_engine))
    before = _audit_records(city_engine)
    r = call(api, None if caller == "anonymous" else caller, method, template.format(**req.path).removeprefix(V1),
             json=req.json, params=req.params)
    assert r.status_code == expected, f"{method} {template} as {caller}: expected {expected}, got {r.status_code} " \
                                      f"{r.text[:500]}"
    if expected >= 400:
        body = r.json()
        assert set(body) >= {"error", "detail", "field"}, body
        assert body["error"] == {401: "Unauthenticated", 403: "Forbidden", 404: "NotFound"}[expected], body
        if expected == 401:
            assert r.headers.get("www-authenticate") == "Bearer"
        # every change is audited, so a refusal that changed nothing left no record
        assert _audit_records(city_engine) == before
    elif method != "GET" and key != ("POST", f"{V1}/auth/logout"):  # without a session cookie, nothing to end
        assert _audit_records(city_engine) > before


# --- the district's callers, against agency A outside their scope and inside it ---


@pytest.fixture(scope="module")
def mirror_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, City]:
    """The city's mirror image: agency A in the district, B in the city."""
    path = tmp_path_factory.mktemp("mirror") / "city.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    city = seed_city(engine, county_holds=AGENCY_A)
    engine.dispose()
    return path, city


@pytest.fixture(params=[False, True], ids=["A-outside", "A-inside"])
def county_api(request: pytest.FixtureRequest, shared_app: tuple[FastAPI, TestClient], city_engine: Engine,
               mirror_template: tuple[Path, City], tmp_path: Path) -> Iterator[tuple[Api, Engine, bool]]:
    """An Api over the city (agency A outside the district) or its mirror image (A inside), and whether A is
    inside."""
    app, client = shared_app
    client.cookies.clear()
    if not request.param:
        app.state.engine = city_engine
        yield Api(client, request.getfixturevalue("city")), city_engine, False
        return
    path = tmp_path / "mirror.db"
    for suffix in ("", "-wal"):
        if Path(f"{mirror_template[0]}{suffix}").exists():
            shutil.copy(f"{mirror_template[0]}{suffix}", f"{path}{suffix}")
    engine = make_engine(f"sqlite:///{path}")
    app.state.engine = engine
    yield Api(client, mirror_template[1]), engine, True
    engine.dispose()


def _names_of_a(engine: Engine) -> list[str]:
    """What would show agency A in an answer: its code, its name and its vehicles' plates."""
    with Session(engine) as session:
        held = session.scalars(sa.select(Vehicle.plate).join(Agency).where(Agency.code == AGENCY_A))
        return [AGENCY_A, *held]


@pytest.mark.parametrize("caller", COUNTY_USERS)
@pytest.mark.parametrize("key", sorted(SCOPED), ids=lambda key: f"{key[0]} {key[1].removeprefix(V1)}")
def test_route_by_district_caller(county_api: tuple[Api, Engine, bool], key: Key, caller: str) -> None:
    """The district's dispatcher, supervisor and admin: what lies outside the district is absent (404), a
    whole-platform act is refused (403), and a list holds nothing of agency A while A is outside."""
    api, engine, inside = county_api
    expected = SCOPED[key][COUNTY_USERS.index(caller) + (3 if inside else 0)]
    method, template = key
    req = REQUESTS[key](Ctx(api, engine))
    before = _audit_records(engine)
    r = call(api, caller, method, template.format(**req.path).removeprefix(V1), json=req.json, params=req.params)
    side = "inside" if inside else "outside"
    assert r.status_code == expected, f"{method} {template} as {caller}, agency A {side} the district: expected " \
                                      f"{expected}, got {r.status_code} {r.text[:500]}"
    if expected >= 400:
        assert r.json()["error"] == {403: "Forbidden", 404: "NotFound"}[expected], r.json()
        assert _audit_records(engine) == before
    elif not inside and key not in NAMES_A_BY_DESIGN:
        leaked = [name for name in _names_of_a(engine) if name in r.text]
        assert not leaked, f"{method} {template} as {caller} shows {leaked} of agency A, outside its scope"


# --- a requester sets only its own fields ---


def _trip_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(Trip)) or 0)


@pytest.mark.parametrize(("field", "value"), [
    ("status", "approved"), ("status", "assigned"), ("vehicle_id", 1), ("driver_id", 1),
    ("assignment", {"vehicle_id": 1}), ("requested_by", "approver-a"), ("id", 99),
])
def test_requester_cannot_set_fields_when_booking(api: Api, city_engine: Engine, field: str, value: Any) -> None:
    r = api.as_("requester-a").post("/trips", json=trip_body(**{field: value}))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert field in r.json()["detail"]
    assert _trip_count(city_engine) == 0


@pytest.mark.parametrize("caller", ["requester-a", "approver-a"])
def test_agency_roles_cannot_book_for_another_agency(api: Api, city_engine: Engine, caller: str) -> None:
    r = api.as_(caller).post("/trips", json=trip_body(agency=AGENCY_B))
    assert r.status_code == 403, r.text
    assert r.json()["field"] == "agency"
    assert "agency" in r.json()["detail"]
    assert _trip_count(city_engine) == 0
    # Its own agency, named or not, is fine, and the trip waits for approval whatever the requester wished.
    for body in (trip_body(agency=AGENCY_A), trip_body()):
        r = api.as_(caller).post("/trips", json=body)
        assert r.status_code == 201, r.text
        assert (r.json()["agency"], r.json()["status"], r.json()["assignment"]) == (AGENCY_A, "requested", None)


@pytest.mark.parametrize("field", ["status", "vehicle_id", "driver_id", "agency"])
def test_requester_cannot_set_fields_through_a_decision(api: Api, field: str) -> None:
    trip_id = api.as_("requester-a").post("/trips", json=trip_body()).json()["id"]
    booked = api.as_("requester-a").get(f"/trips/{trip_id}").json()
    r = api.as_("requester-a").post(f"/trips/{trip_id}/cancel", json={"note": "x" * 3, field: 1})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    after = api.as_("requester-a").get(f"/trips/{trip_id}").json()
    assert after == booked  # nothing changed: still requested, no vehicle, same agency


def test_an_idempotency_key_is_per_requester(api: Api) -> None:
    key = {"Idempotency-Key": "same-key-123"}
    first = api.as_("requester-a").post("/trips", json=trip_body(), headers=key)
    assert first.status_code == 201
    replay = api.as_("requester-a").post("/trips", json=trip_body(), headers=key)
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    # requester-b using the same key books its own trip; it never gets agency A's booking back
    other = api.as_("requester-b").post("/trips", json=trip_body(), headers=key)
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]
    assert other.json()["agency"] == AGENCY_B


# --- what each role sees ---


def test_requester_of_another_agency_sees_none_of_its_trips(api: Api) -> None:
    ids = {api.as_("requester-a").post("/trips", json=trip_body()).json()["id"] for _ in range(3)}
    own = api.as_("requester-b").post("/trips", json=trip_body()).json()["id"]
    for caller in ("requester-b", "approver-b"):
        page = api.as_(caller).get("/trips").json()
        assert [t["id"] for t in page["items"]] == [own]
        assert page["total"] == 1
        filtered = api.as_(caller).get("/trips", params={"agency": AGENCY_A}).json()
        assert (filtered["items"], filtered["total"]) == ([], 0)
        for trip_id in ids:
            assert api.as_(caller).get(f"/trips/{trip_id}").status_code == 404
    page = api.as_("requester-a").get("/trips").json()
    assert {t["id"] for t in page["items"]} == ids
    assert page["total"] == 3


def test_driver_sees_only_the_trips_it_drives(api: Api, city_engine: Engine) -> None:
    c = Ctx(api, city_engine)
    unassigned = c.approved()
    mine = c.assigned()
    # the same window on another vehicle, driven by the pool's day driver
    theirs = c.approved()
    c.ok("dispatcher", "POST", f"/trips/{theirs}/assign",
         {"vehicle_id": c.vehicles["le-a2"], "driver_id": c.drivers["pool-day"]})
    no_driver = api.as_("requester-a").post("/trips", json=trip_body(
        earliest_pickup=at(14).isoformat(), latest_pickup=at(14, 30).isoformat())).json()["id"]
    c.ok("approver-a", "POST", f"/trips/{no_driver}/approve")
    c.ok("dispatcher", "POST", f"/trips/{no_driver}/assign", {"vehicle_id": c.vehicles["le-a1"]})

    page = api.as_("driver-a").get("/trips").json()
    assert [t["id"] for t in page["items"]] == [mine]
    assert page["total"] == 1
    assert api.as_("driver-a").get(f"/trips/{mine}").status_code == 200
    for other in (unassigned, theirs, no_driver):
        assert api.as_("driver-a").get(f"/trips/{other}").status_code == 404
        assert api.as_("driver-a").get(f"/trips/{other}/slip").status_code == 404
    r = api.as_("driver-a").post(f"/trips/{theirs}/start", json={"odometer_km": 100})
    assert r.status_code == 404, r.text
    assert api.as_("dispatcher").get(f"/trips/{theirs}").json()["status"] == "assigned"


def test_driver_loses_a_trip_that_is_reassigned(api: Api, city_engine: Engine) -> None:
    c = Ctx(api, city_engine)
    trip_id = c.assigned()
    assert api.as_("driver-a").get(f"/trips/{trip_id}").status_code == 200
    c.ok("dispatcher", "POST", f"/trips/{trip_id}/assign",
         {"vehicle_id": c.vehicles["le-a2"], "driver_id": c.drivers["pool-day"]})
    assert api.as_("driver-a").get(f"/trips/{trip_id}").status_code == 404
    assert api.as_("driver-a").get("/trips").json()["total"] == 0


def test_an_unknown_or_deactivated_token_is_401(api: Api) -> None:
    r = api.client.get("/api/v1/trips", headers={"Authorization": "Bearer gc_not-a-token"})
    assert r.status_code == 401
    assert r.json()["error"] == "Unauthenticated"
    r = api.client.get("/api/v1/trips", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401
