"""How the app serves the console and the docs pages, and the vocabulary route the console reads (no browser).

The tests that read the built console skip where web/dist is not built (``make web`` builds it; ``make test`` does
first), unless ``GONGCHE_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.console import IMMUTABLE, NO_CACHE, console_dir, is_built, mount_console
from fleet import enums
from fleet.usage_audit import FindingKind
from tests.api.conftest import City
from tests.web.conftest import console_app, unavailable


@pytest.fixture
def built() -> Path:
    dist = console_dir()
    if not is_built(dist):
        unavailable(f"the console is not built ({dist}): run `make web`")
    return dist


@pytest.fixture
def client(built: Path) -> Iterator[TestClient]:
    with TestClient(console_app(sa.create_engine("sqlite://")), raise_server_exceptions=False) as test_client:
        yield test_client


def local_references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)


def test_the_console_page_is_revalidated_and_its_hashed_assets_kept_for_ever(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == NO_CACHE
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = [ref for ref in local_references(page.text) if ref.startswith("/assets/")]
    assert assets, page.text
    for ref in assets:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"] == IMMUTABLE
    assert client.get("/favicon.svg").headers["cache-control"] == NO_CACHE
    again = client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304


def test_the_consoles_own_routes_load_the_page(client: TestClient) -> None:
    index = client.get("/").text
    for path in ("/trips", "/map", "/signin", "/some/deeper/route"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.text == index
        assert response.headers["cache-control"] == NO_CACHE


def test_a_missing_file_is_a_404_not_the_page(client: TestClient) -> None:
    for path in ("/assets/missing-0123abcd.js", "/assets/sub/", "/robots.txt", "/logo.png"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "NotFound"
    for path in ("/..%2f..%2fpyproject.toml", "/assets/..%2f..%2f..%2fpyproject.toml", "/%2e%2e/pyproject.toml"):
        response = client.get(path)
        assert response.status_code == 404 or "[project]" not in response.text, path


def test_api_paths_never_reach_the_console(client: TestClient) -> None:
    assert client.get("/api/v1/no-such-thing").json()["error"] == "NotFound"
    assert client.post("/api/v1/no-such-thing").status_code == 404
    assert client.get("/api").status_code == 404
    assert client.get("/api/v1/trips/1/approve").status_code == 405  # a POST route, still the API's answer
    assert client.get("/api/v1/trips").status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"  # tests/fleet/test_usage_audit_calendar.py: the rest
    assert client.post("/trips").status_code == 405  # the console answers GET and HEAD only


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_local_assets(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    assert "googleapis" not in page.text
    assert "/api/v1/openapi.json" in page.text
    references = local_references(page.text)
    assert references
    for ref in references:
        assert ref.startswith("/assets/vendor/"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"] == IMMUTABLE
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "http" not in policy  # no other origin allowed


def test_the_redoc_copy_has_no_cdn_logo(client: TestClient) -> None:
    ref = next(r for r in local_references(client.get("/redoc").text) if r.endswith(".js"))
    assert "cdn.redoc.ly" not in client.get(ref).text


def test_without_a_build_the_api_runs_and_the_pages_say_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONGCHE_CONSOLE_DIR", str(tmp_path / "nothing-here"))
    with TestClient(console_app(sa.create_engine("sqlite://")), raise_server_exceptions=False) as client:
        for path in ("/", "/trips", "/docs", "/redoc"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "make web" in response.text
            assert "nothing-here" in response.text
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/api/v1/trips").status_code == 401


def test_mounting_beside_fastapis_own_docs_is_refused() -> None:
    with pytest.raises(RuntimeError, match="docs_url=None"):
        mount_console(FastAPI(docs_url="/docs"))


@pytest.fixture
def served(city_engine: Engine, city: City) -> Iterator[tuple[TestClient, City]]:
    with TestClient(console_app(city_engine), raise_server_exceptions=False) as test_client:
        yield test_client, city


def test_the_vocabulary_is_the_registrys_own_labels(served: tuple[TestClient, City]) -> None:
    client, city = served
    assert client.get("/api/v1/vocabulary").status_code == 401
    for user in ("requester-a", "driver-a", "admin"):
        response = client.get("/api/v1/vocabulary", headers={"Authorization": f"Bearer {city.tokens[user]}"})
        assert response.status_code == 200, user
    vocabularies = response.json()
    assert vocabularies["trip_status"] == [{"value": s.value, "zh": s.zh} for s in enums.TripStatus]
    assert [t["value"] for t in vocabularies["priority"]] == ["emergency", "law_enforcement", "routine"]
    assert {"category", "powertrain", "vehicle_status", "role", "licence_class", "run_status"} <= vocabularies.keys()
    # The usage audit's rules by the names the provincial platforms give them, for a finding's `kind`.
    kinds = {term["value"]: term["zh"] for term in vocabularies["finding_kind"]}
    assert kinds["unscheduled_drive"] == "非调度用车"
    assert kinds["terminal_offline"] == FindingKind.terminal_offline.zh
    assert set(kinds) == {kind.value for kind in FindingKind}
    assert "scenic_area" in {term["value"] for term in vocabularies["geofence_kind"]}
    assert all(term["zh"] for terms in vocabularies.values() for term in terms)
