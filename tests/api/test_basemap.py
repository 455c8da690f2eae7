"""The console's base map settings: none (a plain map over the fleet), a tile template, or a local PMTiles archive
served with range requests (how the pmtiles library reads it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet.settings import Settings, get_settings
from tests.api.conftest import YARD_A, YARD_B, Api


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_without_a_base_map_the_console_opens_over_the_fleet(api: Api, settings: pytest.MonkeyPatch) -> None:
    body = api.as_(None).get("/console/config").json()["map"]  # no sign-in needed
    assert body["tiles"] is None
    assert body["pmtiles"] is None
    assert body["crs"] == "wgs84"
    lon, lat = body["center"]
    # Between the two yards of the seeded city (the middle of the vehicles' homes), not somewhere fixed.
    assert min(YARD_A[1], YARD_B[1]) <= lon <= max(YARD_A[1], YARD_B[1])
    assert min(YARD_A[0], YARD_B[0]) <= lat <= max(YARD_A[0], YARD_B[0])


def test_a_tile_template_and_its_datum_reach_the_console(api: Api, settings: pytest.MonkeyPatch) -> None:
    settings.setenv("GONGCHE_MAP_TILES", "https://tiles.intranet.gov.cn/amap/{z}/{x}/{y}.png")
    settings.setenv("GONGCHE_MAP_CRS", "gcj02")
    settings.setenv("GONGCHE_MAP_PMTILES", "/nowhere.pmtiles")  # a template wins over an archive
    body = api.as_(None).get("/console/config").json()["map"]
    assert body["tiles"] == "https://tiles.intranet.gov.cn/amap/{z}/{x}/{y}.png"
    assert body["crs"] == "gcj02"
    assert body["pmtiles"] is None


@pytest.mark.parametrize("template", ["https://tiles.example/{x}/{y}.png", "ftp://t/{z}/{x}/{y}", "javascript:{z}"])
def test_a_template_without_a_zoom_or_a_web_address_is_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="map_tiles"):
        Settings(map_tiles=template)


def test_a_local_archive_is_served_in_ranges(api: Api, settings: pytest.MonkeyPatch, tmp_path: Path) -> None:
    archive = tmp_path / "city.pmtiles"
    archive.write_bytes(bytes(range(256)) * 64)
    settings.setenv("GONGCHE_MAP_PMTILES", str(archive))
    url = api.as_(None).get("/console/config").json()["map"]["pmtiles"]
    assert url == "/api/v1/map/tiles.pmtiles"
    part = api.client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == archive.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{256 * 64}"


def test_no_archive_is_a_404_in_the_apis_words(api: Api, settings: pytest.MonkeyPatch) -> None:
    response = api.as_(None).get("/map/tiles.pmtiles")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
    assert "GONGCHE_MAP_PMTILES" in response.json()["detail"]
