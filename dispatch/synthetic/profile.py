"""What the generator needs to know about a city: one frozen `City` per profile.

`dispatch.synthetic.city` holds Wuhan's facts (the city the scenarios and the demo simulate) and builds `WUHAN` from
them; `dispatch.synthetic.cities` holds the other cities and the registry `CITIES`. The generator
(`dispatch.synthetic.city_instance`) draws only from a `City`, so one code path serves every city and Wuhan's
instances stay what they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: A hot spot: (name, lat, lon, weight, kind).
HotSpot = tuple[str, float, float, float, str]
#: A shift: (start, end) minutes from the day's midnight (an end past 1440 is the next morning).
Shift = tuple[int, int]

KM_PER_DEG_LAT = 110.9
KM_PER_DEG_LON_EQUATOR = 111.32


@dataclass(frozen=True)
class City:
    """One city's geography, roads, fleet and demand, as the generator draws them.

    Geography is an ellipse around `centre`: `radius_km` east-west and ``radius_km * north_scale`` north-south
    (1.0 for a round city; a valley city such as Lanzhou is long and thin). Depots sit on a sunflower spiral over
    the same ellipse shrunk to `depot_radius_km`. Shares are (item, weight) tables; weights need not sum to 1.
    """

    key: str
    name: str  # the city's own name, for the docs
    centre: tuple[float, float]
    radius_km: float
    north_scale: float
    depot_radius_km: float
    vehicles_per_depot: int
    road_factor: float
    speed_kmh: int  # the exchange format states it as a whole number
    hot_spots: tuple[HotSpot, ...]
    hot_spot_share: float
    hot_spot_sigma_km: float
    category_shares: tuple[tuple[str, float], ...]
    #: Share of the fleet that is battery-electric, and its range in tens of km (inclusive).
    bev_share: float
    bev_range_tens: tuple[int, int]
    shifts: dict[str, tuple[tuple[Shift, float], ...]]
    priority_shares: tuple[tuple[str, float], ...]
    routine_categories: tuple[tuple[tuple[str, ...], float], ...]
    passengers: tuple[tuple[int, float], ...]
    #: Share of law-enforcement trips in the evening and at night (rather than in office hours).
    law_night_share: float
    #: Share of routine and law-enforcement trips that are drop-offs only (no dwell).
    drop_off_only: float
    #: Trips per vehicle -> (share of day trips in the two peaks, dwell scale in minutes), interpolated.
    load_table: tuple[tuple[float, float, float], ...]
    #: Multiplies the dwell scale of `load_table`: the profile's own load on top of the size calibration.
    dwell_factor: float
    #: How the peak share splits between the morning and the afternoon peak.
    morning_of_peaks: float

    @property
    def km_per_deg_lon(self) -> float:
        """Km per degree of longitude at the centre (flat earth, close enough over a city)."""
        return KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.centre[0]))
