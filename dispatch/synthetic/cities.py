"""The synthetic cities beyond Wuhan, from slack to tight, and the registry `CITIES` of every profile.

Each profile is a `City` (``dispatch.synthetic.profile``) drawn by the same generator as Wuhan
(``dispatch.synthetic.city_instance(vehicles, trips, seed=..., city="xian")``): what changes is the city's
geography, roads, fleet, shifts and demand. Everything not listed below is Wuhan's (``dispatch.synthetic.city``):
the clock (China Standard Time, UTC+8; every city here keeps it), the passengers, the routine categories, the
seats, the 30 % of drop-offs, the emergency windows (5-15 min) and the others' (10-30 min), the peaks (08:00-10:00
and 14:00-17:00) and the size calibration ``LOAD_TABLE``. Hot-spot coordinates are approximate (to a few hundred
metres); rivers, hills and ring roads are not modelled beyond the road factor and the speed. The cities use the same
shift shapes as Wuhan (day 07:30-19:30, short day, early, night into the next morning, 24-h duty) in other shares,
plus a winter day (08:30-17:30) in Harbin and a swing shift (14:00-02:00) in Xi'an.

Why: the outside checker's days came from "a generator of the same family in other cities" and were much tighter
than Wuhan's: at 100 x 500 the best peer served 64 emergencies, about 175 law-enforcement and 225 routine trips,
against Wuhan's 27 / 115 / 358 offered, nearly all served. So the profiles span slack to tight. Three knobs carry
the load beyond the size calibration: a slower speed (every drive and dwell-free leg takes longer), `dwell_factor`
(longer stays), and `TIGHT_PEAKS` (15 points more of the day's trips in the two peaks, where they compete for the
same vehicles). More law-enforcement and emergency trips against a law-enforcement fleet that does not grow as
much make law enforcement the priority that falls short, as on the checker's days. Share of trips VROOM serves at
10 s (calibrated on tuning seeds 1 and 2, ``benchmarks/peers.py``; the figures and commands are in
``docs/benchmarks.md``): Chengdu 99 % at 100 x 500, Guangzhou 91-93 %, Xi'an 93-94 %, Harbin 89-93 %, Lanzhou 85 %
(Wuhan 97 %). Small days (20 x 80) are tighter (78-93 %) and large ones (300 x 1,500) slacker (92-98 %).

* **Chengdu 成都** (slack). Centre Tianfu Square, 30.6574 N, 104.0659 E; a round city of radius 16 km (inside the
  third ring road; the flat plain lets it spread evenly). Hot spots: the provincial government, the municipal
  government in the high-tech zone to the south, four district governments, West China Hospital, the provincial
  people's hospital, the third people's hospital, and the four railway stations (east, north, south, west).
  Demand like Wuhan's (6 % emergencies, 24 % law enforcement); a newer fleet, 45 % battery-electric with
  250-450 km of range; one depot per 50 vehicles; Wuhan's speed (30 km/h), shifts and load.
* **Guangzhou 广州** (medium). Centre on the Yuexiu-Tianhe axis, 23.1250 N, 113.3000 E; 19 km east-west and 0.8 of
  it north-south (the city stretches along the Pearl River from Liwan to Huangpu). Hot spots: the provincial and
  municipal governments on Fuqian Road, the Tianhe, Haizhu, Baiyun and Huangpu district governments, the First
  Affiliated (Sun Yat-sen) Hospital, the provincial people's hospital, Nanfang Hospital, and the Guangzhou, East
  and South stations (South is 15 km out). Congested roads: 25 km/h, road factor 1.35. 9 % emergencies, 30 % law
  enforcement, a quarter of law-enforcement vehicles on nights. Two thirds of the fleet battery-electric (the
  province pushes electric government cars), 200-400 km. Few, large motor pools: one depot per 80 vehicles.
  Dwell 0.9 x Wuhan's (the slow roads already load it).
* **Xi'an 西安** (tight, like the checker's days). Centre the Bell Tower, 34.2610 N, 108.9423 E; a compact round
  city, radius 13 km (inside the third ring road). Hot spots: the provincial government (Xincheng compound), the
  municipal government at Fengcheng 8th Road in the north, the Beilin, Yanta, Lianhu and Weiyang district
  governments, the high-tech zone, Xijing Hospital, the First Affiliated Hospital of Xi'an Jiaotong University,
  the provincial people's hospital, Tangdu Hospital, and the Xi'an and Xi'an North stations. 12 % emergencies,
  35 % law enforcement, a third of it at night: more night duty (30 % of law-enforcement and 25 % of emergency
  vehicles on nights, 10 % of each on a 14:00-02:00 swing shift). Fleet: 30 % general, 33 % law enforcement, 13 %
  emergency. A third battery-electric, 200-350 km. 25 km/h, dwell 1.5 x Wuhan's, `TIGHT_PEAKS`.
* **Harbin 哈尔滨** (tight, winter). Centre 45.7570 N, 126.6420 E (Nangang and Daoli); radius 12 km, the municipal
  government across the Songhua River in Songbei. Hot spots: the provincial government on Zhongshan Road, the
  municipal government, the Daoli, Nangang, Daowai and Xiangfang district governments, the First and Second
  Affiliated Hospitals of Harbin Medical University, the provincial hospital, and the Harbin, West and East
  stations. A winter day: snow makes the roads slow (22 km/h, road factor 1.4), most routine cars work a short
  winter day (08:30-17:30), and the cold halves a battery car's range (half the fleet battery-electric,
  120-250 km). 13 % emergencies, 37 % law enforcement, 30 % of it at night (30 % of law-enforcement and
  emergency vehicles on nights). Many small heated garages: one depot per 40 vehicles. Dwell 1.2 x Wuhan's.
* **Lanzhou 兰州** (the tightest). A valley city along the Yellow River: centre 36.0600 N, 103.7900 E, 17 km each
  way east-west and 0.22 of that north-south (about 3.7 km), so trips run along the valley and vehicles cross
  town. Hot spots: the provincial and municipal governments, the Chengguan, Qilihe, Anning and Xigu district
  governments, the First and Second Hospitals of Lanzhou University, the provincial people's hospital, and the
  Lanzhou and Lanzhou West stations. One congested valley road and few bridges: 20 km/h, road factor 1.5. Few
  depots (one per 120 vehicles), so depot legs are long. 15 % emergencies, 38 % law enforcement, 30 % of it at
  night; fleet 25 % general, 39 % law enforcement, 16 % emergency, 30 % of both on nights. A quarter
  battery-electric, 150-300 km (hills). Dwell 1.6 x Wuhan's, `TIGHT_PEAKS`.

A day is reproducible from (city, seed, size): nothing else enters. Tuning days are seeds 1-9 of any city and
reporting days seeds 100 and up, never used for tuning (``benchmarks/days.toml``); Wuhan's seed-0 days are the
historical benchmark.
"""

from __future__ import annotations

from typing import Final

from dispatch.synthetic.city import (
    LOAD_TABLE,
    MORNING_OF_PEAKS,
    PASSENGERS,
    ROUTINE_CATEGORIES,
    WUHAN,
)
from dispatch.synthetic.profile import City

#: Shifts as (start, end) minutes from the day's midnight (an end past 1440 is the next morning).
DAY, DAY_SHORT, DAY_EARLY, NIGHT, FULL = (450, 1170), (480, 1080), (420, 1020), (1140, 1860), (0, 1440)
WINTER_DAY, SWING = (510, 1050), (840, 1560)

#: Wuhan's size calibration with more of the day's trips in the two peaks (so more of them compete for vehicles).
TIGHT_PEAKS: Final = tuple((ratio, min(0.95, peak + 0.15), dwell) for ratio, peak, dwell in LOAD_TABLE)

CHENGDU: Final = City(
    key="chengdu",
    name="成都 Chengdu",
    centre=(30.6574, 104.0659),
    radius_km=16.0,
    north_scale=1.0,
    depot_radius_km=13.0,
    vehicles_per_depot=50,
    road_factor=1.3,
    speed_kmh=30,
    hot_spots=(
        ("四川省人民政府", 30.6540, 104.0720, 3.0, "government"),
        ("成都市人民政府", 30.5750, 104.0560, 3.0, "government"),
        ("锦江区政府", 30.6570, 104.0830, 1.0, "government"),
        ("武侯区政府", 30.6430, 104.0280, 1.0, "government"),
        ("成华区政府", 30.6600, 104.1020, 1.0, "government"),
        ("金牛区政府", 30.6890, 104.0520, 1.0, "government"),
        ("华西医院", 30.6420, 104.0430, 1.5, "hospital"),
        ("四川省人民医院", 30.6630, 104.0380, 1.5, "hospital"),
        ("成都市第三人民医院", 30.6680, 104.0580, 1.0, "hospital"),
        ("成都东站", 30.6300, 104.1420, 1.2, "station"),
        ("成都站", 30.6970, 104.0730, 1.0, "station"),
        ("成都南站", 30.6060, 104.0690, 0.8, "station"),
        ("成都西站", 30.6650, 103.9880, 0.6, "station"),
    ),
    hot_spot_share=0.65,
    hot_spot_sigma_km=0.9,
    category_shares=(
        ("general", 0.40),
        ("law_enforcement", 0.29),
        ("emergency", 0.09),
        ("confidential_comms", 0.11),
        ("special_technical", 0.11),
    ),
    bev_share=0.45,
    bev_range_tens=(25, 45),
    shifts=WUHAN.shifts,
    priority_shares=(("emergency", 0.06), ("law_enforcement", 0.24), ("routine", 0.70)),
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=0.15,
    drop_off_only=0.3,
    load_table=LOAD_TABLE,
    dwell_factor=1.0,
    morning_of_peaks=MORNING_OF_PEAKS,
)

GUANGZHOU: Final = City(
    key="guangzhou",
    name="广州 Guangzhou",
    centre=(23.1250, 113.3000),
    radius_km=19.0,
    north_scale=0.8,
    depot_radius_km=15.0,
    vehicles_per_depot=80,
    road_factor=1.35,
    speed_kmh=25,
    hot_spots=(
        ("广东省人民政府", 23.1330, 113.2660, 3.0, "government"),
        ("广州市人民政府", 23.1310, 113.2640, 3.0, "government"),
        ("天河区政府", 23.1240, 113.3610, 1.2, "government"),
        ("海珠区政府", 23.0830, 113.3170, 1.0, "government"),
        ("白云区政府", 23.1650, 113.2730, 1.0, "government"),
        ("黄埔区政府", 23.1060, 113.4590, 0.6, "government"),
        ("中山大学附属第一医院", 23.1310, 113.2870, 1.5, "hospital"),
        ("广东省人民医院", 23.1260, 113.2880, 1.5, "hospital"),
        ("南方医院", 23.1880, 113.3290, 1.0, "hospital"),
        ("广州站", 23.1490, 113.2570, 1.2, "station"),
        ("广州东站", 23.1510, 113.3250, 1.2, "station"),
        ("广州南站", 22.9880, 113.2690, 1.0, "station"),
    ),
    hot_spot_share=0.6,
    hot_spot_sigma_km=1.0,
    category_shares=(
        ("general", 0.36),
        ("law_enforcement", 0.31),
        ("emergency", 0.11),
        ("confidential_comms", 0.11),
        ("special_technical", 0.11),
    ),
    bev_share=2 / 3,
    bev_range_tens=(20, 40),
    shifts={
        **WUHAN.shifts,
        "law_enforcement": ((DAY, 0.55), (DAY_EARLY, 0.1), (NIGHT, 0.25), (FULL, 0.1)),
    },
    priority_shares=(("emergency", 0.09), ("law_enforcement", 0.30), ("routine", 0.61)),
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=0.2,
    drop_off_only=0.3,
    load_table=LOAD_TABLE,
    dwell_factor=0.9,
    morning_of_peaks=MORNING_OF_PEAKS,
)

XIAN: Final = City(
    key="xian",
    name="西安 Xi'an",
    centre=(34.2610, 108.9423),
    radius_km=13.0,
    north_scale=1.0,
    depot_radius_km=10.5,
    vehicles_per_depot=60,
    road_factor=1.3,
    speed_kmh=25,
    hot_spots=(
        ("陕西省人民政府", 34.2660, 108.9540, 3.0, "government"),
        ("西安市人民政府", 34.3400, 108.9440, 2.5, "government"),
        ("碑林区政府", 34.2530, 108.9430, 1.0, "government"),
        ("雁塔区政府", 34.2230, 108.9480, 1.0, "government"),
        ("莲湖区政府", 34.2670, 108.9300, 1.0, "government"),
        ("未央区政府", 34.3100, 108.9460, 1.0, "government"),
        ("高新区管委会", 34.2270, 108.8860, 1.0, "government"),
        ("西京医院", 34.2690, 108.9890, 1.5, "hospital"),
        ("西安交通大学第一附属医院", 34.2190, 108.9360, 1.5, "hospital"),
        ("陕西省人民医院", 34.2360, 108.9300, 1.2, "hospital"),
        ("唐都医院", 34.2710, 109.0480, 1.0, "hospital"),
        ("西安站", 34.2780, 108.9620, 1.2, "station"),
        ("西安北站", 34.3760, 108.9390, 1.2, "station"),
    ),
    hot_spot_share=0.65,
    hot_spot_sigma_km=0.8,
    category_shares=(
        ("general", 0.30),
        ("law_enforcement", 0.33),
        ("emergency", 0.13),
        ("confidential_comms", 0.12),
        ("special_technical", 0.12),
    ),
    bev_share=1 / 3,
    bev_range_tens=(20, 35),
    shifts={
        **WUHAN.shifts,
        "law_enforcement": ((DAY, 0.45), (DAY_EARLY, 0.05), (NIGHT, 0.3), (SWING, 0.1), (FULL, 0.1)),
        "emergency": ((FULL, 0.5), (DAY, 0.15), (NIGHT, 0.25), (SWING, 0.1)),
    },
    priority_shares=(("emergency", 0.12), ("law_enforcement", 0.35), ("routine", 0.53)),
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=0.33,
    drop_off_only=0.3,
    load_table=TIGHT_PEAKS,
    dwell_factor=1.5,
    morning_of_peaks=MORNING_OF_PEAKS,
)

HARBIN: Final = City(
    key="harbin",
    name="哈尔滨 Harbin",
    centre=(45.7570, 126.6420),
    radius_km=12.0,
    north_scale=1.0,
    depot_radius_km=10.0,
    vehicles_per_depot=40,
    road_factor=1.4,
    speed_kmh=22,
    hot_spots=(
        ("黑龙江省人民政府", 45.7460, 126.6650, 3.0, "government"),
        ("哈尔滨市人民政府", 45.8060, 126.5430, 2.5, "government"),
        ("道里区政府", 45.7650, 126.6180, 1.0, "government"),
        ("南岗区政府", 45.7560, 126.6730, 1.0, "government"),
        ("道外区政府", 45.7860, 126.6480, 1.0, "government"),
        ("香坊区政府", 45.7130, 126.6780, 1.0, "government"),
        ("哈尔滨医科大学附属第一医院", 45.7600, 126.6440, 1.5, "hospital"),
        ("哈尔滨医科大学附属第二医院", 45.7240, 126.6250, 1.5, "hospital"),
        ("黑龙江省医院", 45.7120, 126.6550, 1.0, "hospital"),
        ("哈尔滨站", 45.7610, 126.6330, 1.2, "station"),
        ("哈尔滨西站", 45.7100, 126.5800, 1.0, "station"),
        ("哈尔滨东站", 45.7830, 126.6900, 0.8, "station"),
    ),
    hot_spot_share=0.65,
    hot_spot_sigma_km=0.8,
    category_shares=(
        ("general", 0.32),
        ("law_enforcement", 0.33),
        ("emergency", 0.13),
        ("confidential_comms", 0.11),
        ("special_technical", 0.11),
    ),
    bev_share=0.5,
    bev_range_tens=(12, 25),
    shifts={
        "general": ((WINTER_DAY, 0.6), (DAY, 0.25), (DAY_EARLY, 0.15)),
        "confidential_comms": ((WINTER_DAY, 0.6), (DAY, 0.4)),
        "special_technical": ((WINTER_DAY, 0.5), (DAY, 0.3), (DAY_EARLY, 0.2)),
        "law_enforcement": ((DAY, 0.45), (WINTER_DAY, 0.1), (NIGHT, 0.3), (FULL, 0.15)),
        "emergency": ((FULL, 0.55), (DAY, 0.15), (NIGHT, 0.3)),
    },
    priority_shares=(("emergency", 0.13), ("law_enforcement", 0.37), ("routine", 0.50)),
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=0.3,
    drop_off_only=0.3,
    load_table=LOAD_TABLE,
    dwell_factor=1.2,
    morning_of_peaks=MORNING_OF_PEAKS,
)

LANZHOU: Final = City(
    key="lanzhou",
    name="兰州 Lanzhou",
    centre=(36.0600, 103.7900),
    radius_km=17.0,
    north_scale=0.22,
    depot_radius_km=14.0,
    vehicles_per_depot=120,
    road_factor=1.5,
    speed_kmh=20,
    hot_spots=(
        ("甘肃省人民政府", 36.0610, 103.8340, 3.0, "government"),
        ("兰州市人民政府", 36.0590, 103.8240, 3.0, "government"),
        ("城关区政府", 36.0560, 103.8390, 1.0, "government"),
        ("七里河区政府", 36.0660, 103.7860, 1.0, "government"),
        ("安宁区政府", 36.1030, 103.7220, 1.0, "government"),
        ("西固区政府", 36.0900, 103.6300, 0.8, "government"),
        ("兰州大学第一医院", 36.0560, 103.8400, 1.5, "hospital"),
        ("兰州大学第二医院", 36.0710, 103.8140, 1.5, "hospital"),
        ("甘肃省人民医院", 36.0540, 103.8550, 1.2, "hospital"),
        ("兰州站", 36.0410, 103.8470, 1.2, "station"),
        ("兰州西站", 36.0690, 103.7410, 1.2, "station"),
    ),
    hot_spot_share=0.6,
    hot_spot_sigma_km=0.7,
    category_shares=(
        ("general", 0.25),
        ("law_enforcement", 0.39),
        ("emergency", 0.16),
        ("confidential_comms", 0.10),
        ("special_technical", 0.10),
    ),
    bev_share=0.25,
    bev_range_tens=(15, 30),
    shifts={
        **WUHAN.shifts,
        "law_enforcement": ((DAY, 0.5), (DAY_EARLY, 0.05), (NIGHT, 0.3), (FULL, 0.15)),
        "emergency": ((FULL, 0.5), (DAY, 0.2), (NIGHT, 0.3)),
    },
    priority_shares=(("emergency", 0.15), ("law_enforcement", 0.38), ("routine", 0.47)),
    routine_categories=ROUTINE_CATEGORIES,
    passengers=PASSENGERS,
    law_night_share=0.3,
    drop_off_only=0.3,
    load_table=TIGHT_PEAKS,
    dwell_factor=1.6,
    morning_of_peaks=MORNING_OF_PEAKS,
)

#: Every city the generator knows, by key (Wuhan, the historical one, first).
CITIES: Final[dict[str, City]] = {city.key: city for city in (WUHAN, CHENGDU, GUANGZHOU, XIAN, HARBIN, LANZHOU)}


def city_named(key: str) -> City:
    """The profile of a city by its key (case-insensitive); `ValueError` naming the known keys otherwise."""
    try:
        return CITIES[key.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown city {key!r}; known: {', '.join(CITIES)}") from None
