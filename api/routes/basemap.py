"""The console's map: which base map to draw (settings `GONGCHE_MAP_*`), and the local PMTiles archive if one is set.

No sign-in is needed for either: the sign-in page may show the map, and tiles say nothing about the fleet.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.errors import ApiError, ErrorOut
from fleet.i18n import msg
from fleet.models import Vehicle
from fleet.settings import get_settings

router = APIRouter(tags=["console"], responses={404: {"model": ErrorOut}})

PMTILES_PATH = "/map/tiles.pmtiles"
# Where the map opens when no vehicle has a home yet: the middle of China's road network, at a national zoom.
FALLBACK_CENTRE, FALLBACK_ZOOM = (112.9, 30.6), 4.0
FLEET_ZOOM = 11.0


class MapOut(BaseModel):
    tiles: str | None = Field(description="raster tile URL template ({z}/{x}/{y}); null when not configured")
    pmtiles: str | None = Field(description="URL of the local PMTiles archive the app serves; null when none")
    crs: Literal["wgs84", "gcj02"] = Field(description="datum of the tiles; the API's coordinates are WGS-84")
    attribution: str
    max_zoom: int
    center: tuple[float, float] = Field(description="[lon, lat] where the map opens: the middle of the fleet's homes")
    zoom: float


class ConsoleConfigOut(BaseModel):
    map: MapOut


@router.get("/console/config", response_model=ConsoleConfigOut, summary="The console's settings (its base map)")
def console_config(session: SessionDep) -> ConsoleConfigOut:
    settings = get_settings()
    lat, lon = session.execute(sa.select(sa.func.avg(Vehicle.home_lat), sa.func.avg(Vehicle.home_lon))
                               .where(Vehicle.home_lat.is_not(None), Vehicle.home_lon.is_not(None))).one()
    centre, zoom = ((float(lon), float(lat)), FLEET_ZOOM) if lat is not None else (FALLBACK_CENTRE, FALLBACK_ZOOM)
    pmtiles = None
    if settings.map_tiles is None and settings.map_pmtiles is not None:
        pmtiles = f"/api/v1{PMTILES_PATH}"
    return ConsoleConfigOut(map=MapOut(tiles=settings.map_tiles, pmtiles=pmtiles, crs=settings.map_crs,
                                       attribution=settings.map_attribution, max_zoom=settings.map_max_zoom,
                                       center=centre, zoom=zoom))


@router.get(PMTILES_PATH, summary="The local PMTiles archive (HTTP range requests)", response_class=FileResponse,
            responses={200: {"content": {"application/vnd.pmtiles": {}}}, 206: {"description": "a byte range"}})
def pmtiles_archive() -> FileResponse:
    path = get_settings().map_pmtiles
    if path is None or not path.is_file():
        raise ApiError(404, "NotFound", msg("no PMTiles archive is configured (GONGCHE_MAP_PMTILES)"))
    return FileResponse(path, media_type="application/vnd.pmtiles",
                        headers={"Cache-Control": "public, max-age=3600"})
