"""The synthetic city's facts, in one place: where it is, its clock, its roads, its fleet and its demand.

The generator (`dispatch.synthetic.city_instance`) draws instances from them (as the profile `WUHAN`, the default
city), and the reform scenarios (``scenarios/``) simulate the same city: its hot spots, shifts, passengers and
clock. Nothing else restates them. The other benchmark cities are in `dispatch.synthetic.cities`.

Choices, and why:

* **Geography.** Wuhan: centre 30.5928 N, 114.3055 E, a disc of radius 15 km (about 30 km across, the
  three-town core inside the third ring road). Trip endpoints come 65 % from hot spots (the provincial and
  municipal government compounds, district governments, the big hospitals, the three railway stations), each
  spread with a ~0.8 km Gaussian, and 35 % uniform over the disc (background: residences, field sites). The
  hot-spot coordinates are approximate; the river is not modelled (road km = geodesic x `ROAD_FACTOR`, as the
  exchange format says).
* **Clock.** The city keeps China Standard Time, UTC+8 with no daylight saving (`CST`); every time it produces
  carries the +08:00 offset. This is the city's own fact: the engine imports nothing of the platform, whose time
  zone (Asia/Shanghai, the same offset) lives in ``fleet.clock``.
* **Depots.** About one per 60 vehicles (at least one), laid on a jittered sunflower spiral over the inner
  12 km so they are spread across the city, like the motor pools of different agencies. Vehicles are dealt to
  depots round-robin after a seeded shuffle.
* **Fleet.** Category shares follow the demand: general 38 %, law_enforcement 30 %, emergency 10 %,
  confidential_comms 11 %, special_technical 11 % (largest-remainder rounding, at least one of each from five
  vehicles up). Seats: sedans 4 or 5, a quarter 7-seat MPVs, and a few 12-seat vans among special_technical.
  A third of the fleet is battery-electric (`bev`, range 200-400 km, which binds on long and 24-h shifts); the
  rest is `ice`, `hev` or `phev` with unlimited range.
* **Shifts.** Most vehicles work a day shift (07:30-19:30, some 08:00-18:00 or 07:00-17:00). A share of the
  law-enforcement and emergency vehicles works nights (19:00-07:00 next day), and most emergency vehicles are
  on 24-h duty (00:00-24:00), so night-time trips have someone to serve them.
* **Demand.** About 5 % emergencies, uniform around the clock with 5-15 min pickup windows, served by
  emergency or law-enforcement vehicles; about 25 % law-enforcement trips (only law_enforcement vehicles), and
  the rest routine (general, confidential_comms or special_technical in a few sensible combinations). Routine
  and law-enforcement trips peak in the morning (08:00-10:00) and afternoon (14:00-17:00); some law
  enforcement happens in the evening and at night. Pickup windows are 10-30 min wide. Passengers are 1-6,
  mostly 1-2, and never more than the largest vehicle of an allowed category can seat. Dwell is 0-120 min.
* **Tightness.** The ratio trips/vehicle differs by size (4 at 20x80, 5 at 100x500 to 1000x5000, 3.3 at
  3000x10000), and so must the load per trip for the instances to be about equally tight. Two knobs carry it
  (`LOAD_TABLE`, interpolated in the ratio): the share of day trips that fall in the two peaks (70 % at 5 trips per
  vehicle, 88 % at 3.3) and the scale of the dwell (an exponential, rounded up to 5 min and cut at 120 min; 30 %
  of routine and law-enforcement trips are drop-offs with no dwell). They were calibrated with VROOM (5-10 s,
  seed 0, see ``benchmarks/peers.py``): it serves about 94-98 % of the trips, all or nearly all emergencies,
  so the peaks nearly saturate the day fleet and a few per cent of trips compete for the same vehicles or are
  out of reach (e.g. a night emergency with no free vehicle in time).
"""

from __future__ import annotations

import math
from datetime import timedelta, timezone
from typing import Final

from dispatch.synthetic.profile import KM_PER_DEG_LAT as KM_PER_DEG_LAT
from dispatch.synthetic.profile import KM_PER_DEG_LON_EQUATOR as KM_PER_DEG_LON_EQUATOR
from dispatch.synthetic.profile import City

#: Centre of Wuhan (lat, lon).
CENTRE: Final[tuple[float, float]] = (30.5928, 114.3055)

#: The city's clock: China Standard Time, UTC+8 all year.
CST: Final = timezone(timedelta(hours=8))

#: Its roads as the exchange format models them: road km = geodesic km x ROAD_FACTOR, driven at SPEED_KMH (the
#: format's defaults; the speed is a whole number, and instances state it as one).
ROAD_FACTOR: Final = 1.3
SPEED_KMH: Final = 30

RADIUS_KM: Final = 15.0
DEPOT_RADIUS_KM: Final = 12.0
VEHICLES_PER_DEPOT: Final = 60
#: Flat-earth conversions, close enough over a 30 km city: km per degree of latitude and per degree of longitude at
#: the equator (`KM_PER_DEG_LAT`, `KM_PER_DEG_LON_EQUATOR`, shared by every city in `dispatch.synthetic.profile`), and
#: per degree of longitude at the centre.
KM_PER_DEG_LON: Final = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(CENTRE[0]))

#: (name, lat, lon, weight, kind); approximate locations of places that generate official trips.
HOT_SPOTS: Final[tuple[tuple[str, float, float, float, str], ...]] = (
    ("湖北省人民政府", 30.5446, 114.3082, 3.0, "government"),
    ("武汉市人民政府", 30.5993, 114.2980, 3.0, "government"),
    ("江岸区政府", 30.6000, 114.3090, 1.0, "government"),
    ("汉阳区政府", 30.5535, 114.2190, 1.0, "government"),
    ("洪山区政府", 30.5050, 114.3440, 1.0, "government"),
    ("青山区政府", 30.6400, 114.3850, 1.0, "government"),
    ("东湖高新区管委会", 30.4790, 114.4050, 1.2, "government"),
    ("同济医院", 30.5820, 114.2660, 1.5, "hospital"),
    ("协和医院", 30.5870, 114.2810, 1.5, "hospital"),
    ("中南医院", 30.5570, 114.3520, 1.2, "hospital"),
    ("人民医院", 30.5490, 114.3050, 1.2, "hospital"),
    ("汉口站", 30.6186, 114.2550, 1.2, "station"),
    ("武昌站", 30.5290, 114.3170, 1.2, "station"),
    ("武汉站", 30.6070, 114.4240, 1.0, "station"),
)
HOT_SPOT_SHARE: Final = 0.65
HOT_SPOT_SIGMA_KM: Final = 0.8

CATEGORY_SHARES: Final[tuple[tuple[str, float], ...]] = (
    ("general", 0.38),
    ("law_enforcement", 0.30),
    ("emergency", 0.10),
    ("confidential_comms", 0.11),
    ("special_technical", 0.11),
)
PRIORITY_SHARES: Final[tuple[tuple[str, float], ...]] = (
    ("emergency", 0.05),
    ("law_enforcement", 0.25),
    ("routine", 0.70),
)
#: Allowed vehicle categories of routine trips, with their shares.
ROUTINE_CATEGORIES: Final[tuple[tuple[tuple[str, ...], float], ...]] = (
    (("general",), 0.35),
    (("general", "confidential_comms"), 0.25),
    (("confidential_comms",), 0.10),
    (("general", "special_technical"), 0.12),
    (("special_technical",), 0.06),
    (("general", "confidential_comms", "special_technical"), 0.12),
)
PASSENGERS: Final[tuple[tuple[int, float], ...]] = ((1, 0.45), (2, 0.25), (3, 0.13), (4, 0.08), (5, 0.05), (6, 0.04))

#: Shifts as (start, end) minutes from the day's midnight, and their shares per vehicle category.
DAY, DAY_SHORT, DAY_EARLY, NIGHT, FULL = (450, 1170), (480, 1080), (420, 1020), (1140, 1860), (0, 1440)
SHIFTS: Final[dict[str, tuple[tuple[tuple[int, int], float], ...]]] = {
    "general": ((DAY, 0.65), (DAY_SHORT, 0.2), (DAY_EARLY, 0.15)),
    "confidential_comms": ((DAY, 0.7), (DAY_SHORT, 0.3)),
    "special_technical": ((DAY, 0.6), (DAY_SHORT, 0.2), (DAY_EARLY, 0.2)),
    "law_enforcement": ((DAY, 0.6), (DAY_EARLY, 0.1), (NIGHT, 0.2), (FULL, 0.1)),
    "emergency": ((FULL, 0.6), (DAY, 0.2), (NIGHT, 0.2)),
}
#: Share of law-enforcement trips in the evening and at night.
LAW_NIGHT_SHARE: Final = 0.15
#: A third of the fleet is battery-electric, with 200-400 km of range.
BEV_SHARE: Final = 1 / 3
BEV_RANGE_TENS: Final = (20, 40)

#: Share of routine and law-enforcement trips that are drop-offs only (no dwell).
DROP_OFF_ONLY: Final = 0.3
#: Load calibration: trips per vehicle -> (share of day trips in the two peaks, dwell scale in minutes).
#: Calibrated against VROOM (5-10 s, seed 0) so that about 94-98 % of the trips get served at each ratio.
LOAD_TABLE: Final[tuple[tuple[float, float, float], ...]] = (
    (10 / 3, 0.88, 130.0),
    (4.0, 0.72, 43.0),
    (5.0, 0.70, 26.0),
)
#: How the peak share splits between the morning and the afternoon peak.
MORNING_OF_PEAKS: Final = 0.45

#: The city as one profile, for the generator; its instances are what they were before there were other cities.
WUHAN: Final = City(
    key="wuhan",
    name="武汉 Wuhan",
    centre=CENTRE,
    radius_km=RADIUS_KM,
    north_scale=1.0,
    depot_radius_km=DEPOT_RADIUS_KM,
    vehicles_per_depot=VEHICLES_PER_DEPOT,
    road_factor=ROAD_FACTOR,
    speed_kmh=SPEED_KMH,
    hot_spots=HOT_SPOTS,
    hot_spot_share=HOT_SPOT_SHARE,
    hot_spot_sigma_km=HOT_SPOT_SIGMA_KM,
    category_shares=CATEGORY_SHARES,
    bev_share=BEV_SHARE,
    bev_range_tens=BEV_RANGE_TENS,
    shifts=SHIFTS,
    priority_shares=PRIORITY_SHARES,
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=LAW_NIGHT_SHARE,
    drop_off_only=DROP_OFF_ONLY,
    load_table=LOAD_TABLE,
    dwell_factor=1.0,
    morning_of_peaks=MORNING_OF_PEAKS,
)
