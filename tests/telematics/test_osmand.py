"""OsmAnd / Traccar Client HTTP reports: the query form (speed in knots), the JSON form (m/s), and refusals that name
the field. Sample requests are copied from github.com/traccar/traccar,
src/test/java/org/traccar/protocol/OsmAndProtocolDecoderTest.java at commit 9e5c458ad0bf44ceaddf72534bf6874787f41b6c.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telematics.osmand import OsmAndError, OsmAndReport, parse_json, parse_query, to_json, to_query

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_traccar_query_samples() -> None:
    # testDecodeQuery: Unix seconds, bearing, hdop kept as an attribute
    report = parse_query(
        query("/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0"), NOW
    )
    assert (report.device_id, report.lat, report.lon, report.course, report.altitude_m) == ("123456", 60, 30, 0, 0)
    assert report.fixed_at == datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)
    assert report.attributes == {"hdop": "0.0"}
    # ISO 8601 and milliseconds give the time of the same samples
    iso = parse_query(query("/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z"), NOW)
    assert iso.fixed_at == datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)
    ms = parse_query(query("/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&speed=0.0"), NOW)
    assert ms.fixed_at == datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)
    spaced = parse_query(query("/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&id=353861053849681"), NOW)
    assert spaced.fixed_at == datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)  # naive: UTC, as Traccar reads it
    # deviceid, heading, no timestamp (-> now)
    heading = parse_query(
        query("/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456"), NOW
    )
    assert (heading.device_id, heading.course, heading.fixed_at) == ("123456", 0, NOW)
    assert heading.attributes == {"vacc": "0", "hacc": "0"}
    # location=lat,lon
    located = parse_query(query("/?id=123456&timestamp=1377177267&location=60.0,30.0"), NOW)
    assert (located.lat, located.lon) == (60.0, 30.0)
    # battery, and speed in knots with ignition
    assert parse_query(query("/?id=861001000719969&lat=41.666667&lon=-0.883333&batt=87"), NOW).battery == 87
    moving = parse_query(
        query(
            "/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244"
            "&speed=40&ignition=true&rpm=933&fuel=24"
        ),
        NOW,
    )
    assert moving.speed_kmh == pytest.approx(40 * 1.852)
    assert (moving.course, moving.acc, moving.attributes) == (7, True, {"rpm": "933", "fuel": "24"})


def test_traccar_json_sample() -> None:
    # testDecodeJson, the third request (Transistor background-geolocation shape), with a device_id added.
    payload = {
        "device_id": "abc",
        "location": {
            "event": "motionchange",
            "is_moving": False,
            "timestamp": "2021-07-21T08:06:34.444Z",
            "odometer": 1500,
            "coords": {
                "latitude": -6.1148096,
                "longitude": 106.6837015,
                "accuracy": 3.8,
                "speed": 18.67,
                "heading": 63,
                "altitude": 21.4,
            },
            "battery": {"level": 0.35, "is_charging": True},
        },
    }
    (report,) = parse_json(payload, NOW)
    assert report.fixed_at == datetime(2021, 7, 21, 8, 6, 34, 444000, tzinfo=UTC)
    assert (report.lat, report.lon, report.course, report.altitude_m, report.accuracy_m) == (
        -6.1148096,
        106.6837015,
        63,
        21,
        3.8,
    )
    assert report.speed_kmh == pytest.approx(18.67 * 3.6)  # m/s
    assert report.mileage_km == 1.5
    assert report.battery == 35
    assert report.attributes == {"charge": "true", "is_moving": "false", "event": "motionchange"}


def test_json_location_list_and_unknown_speed() -> None:
    fix = {
        "timestamp": "2025-06-15T13:45:12.862Z",
        "coords": {"latitude": 37.42, "longitude": -122.08, "speed": -1, "heading": -1},
    }
    reports = parse_json({"device_id": "7", "location": [fix, fix]}, NOW)
    assert len(reports) == 2
    assert (reports[0].speed_kmh, reports[0].course) == (0.0, None)  # -1: unknown, as in Traccar


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "1", "lon": "2"}, "id"),
        ({"id": " ", "lat": "1", "lon": "2"}, "id"),
        ({"deviceid": "", "lat": "1", "lon": "2"}, "deviceid"),
        ({"id": "1", "lon": "2"}, "lat"),
        ({"id": "1", "lat": "90.5", "lon": "2"}, "lat"),
        ({"id": "1", "lat": "-91", "lon": "2"}, "lat"),
        ({"id": "1", "lat": "1", "lon": "180.01"}, "lon"),
        ({"id": "1", "lat": "north", "lon": "2"}, "lat"),
        ({"id": "1", "lat": "nan", "lon": "2"}, "lat"),
        ({"id": "1", "lat": "1", "lon": "2", "speed": "fast"}, "speed"),
        ({"id": "1", "lat": "1", "lon": "2", "timestamp": "yesterday"}, "timestamp"),
        ({"id": "1", "lat": "1", "lon": "2", "timestamp": "1e300"}, "timestamp"),
        ({"id": "1", "location": "1;2"}, "location"),
        ({"id": "1", "lat": "1", "lon": "2", "ignition": "maybe"}, "ignition"),
        # Out of any phone's range: refused, never stored as a false 超速 or an overflowing altitude.
        ({"id": "1", "lat": "1", "lon": "2", "speed": "1e308"}, "speed"),
        ({"id": "1", "lat": "1", "lon": "2", "speed": "inf"}, "speed"),
        ({"id": "1", "lat": "1", "lon": "2", "speed": "270"}, "speed"),  # 500 km/h in knots
        ({"id": "1", "lat": "1", "lon": "2", "speed": "-3"}, "speed"),
        ({"id": "1", "lat": "1", "lon": "2", "bearing": "361"}, "bearing"),
        ({"id": "1", "lat": "1", "lon": "2", "heading": "-10"}, "heading"),
        ({"id": "1", "lat": "1", "lon": "2", "altitude": "1e30"}, "altitude"),
        ({"id": "1", "lat": "1", "lon": "2", "altitude": "-501"}, "altitude"),
        ({"id": "1", "lat": "1", "lon": "2", "altitude": "nan"}, "altitude"),
        ({"id": "1", "lat": "1", "lon": "2", "accuracy": "-1"}, "accuracy"),
        ({"id": "1", "lat": "1", "lon": "2", "accuracy": "100001"}, "accuracy"),
        ({"id": "1", "lat": "1", "lon": "2", "batt": "101"}, "batt"),
        ({"id": "1", "lat": "1", "lon": "2", "batt": "-inf"}, "batt"),
        # An odometer that runs backwards or past any vehicle's life would skew the track audit's km.
        ({"id": "1", "lat": "1", "lon": "2", "odometer": "-5000"}, "odometer"),
        ({"id": "1", "lat": "1", "lon": "2", "odometer": "1e300"}, "odometer"),
    ],
)
def test_query_refusals_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(OsmAndError) as caught:
        parse_query(params, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({"location": {}}, "device_id"),
        ({"device_id": "1"}, "location"),
        ({"device_id": "1", "location": []}, "location"),
        ({"device_id": "1", "location": {"timestamp": "2025-01-01T00:00:00Z"}}, "location.coords"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1}}}, "location.coords.longitude"),
        ({"device_id": "1", "location": {"coords": {"latitude": 100, "longitude": 1}}}, "location.coords.latitude"),
        ({"device_id": "1", "location": {"coords": {"latitude": "x", "longitude": 1}}}, "location.coords.latitude"),
        (
            {"device_id": "1", "location": {"timestamp": "soon", "coords": {"latitude": 1, "longitude": 1}}},
            "location.timestamp",
        ),
        ({"device_id": "1", "location": [{"coords": {"latitude": 1, "longitude": 1}}, 3]}, "location[1]"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1, "speed": 1e300}}},
         "location.coords.speed"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1, "heading": 400}}},
         "location.coords.heading"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1, "altitude": 12000}}},
         "location.coords.altitude"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1, "accuracy": 1e9}}},
         "location.coords.accuracy"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1}, "battery": {"level": 2}}},
         "location.battery.level"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1}, "odometer": -5}},
         "location.odometer"),
        ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1}, "odometer": 1e308}},
         "location.odometer"),
    ],
)
def test_json_refusals_name_the_field(payload: object, field: str) -> None:
    with pytest.raises(OsmAndError) as caught:
        parse_json(payload, NOW)
    assert caught.value.field == field


reports = st.builds(
    OsmAndReport,
    device_id=st.text("0123456789abcdef", min_size=1, max_size=20),
    fixed_at=st.integers(0, 4_000_000_000).map(lambda s: datetime.fromtimestamp(s, UTC)),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    speed_kmh=st.floats(0, 300),
    course=st.none() | st.integers(0, 359),
    altitude_m=st.none() | st.integers(-400, 9000),
    accuracy_m=st.none() | st.floats(0, 5000),
    acc=st.none() | st.booleans(),
    mileage_km=st.none() | st.integers(0, 10**6).map(lambda m: m / 1000),
    battery=st.none() | st.integers(0, 100).map(float),
    attributes=st.just({}),
)


@given(reports)
def test_query_form_round_trips(report: OsmAndReport) -> None:
    back = parse_query(to_query(report), NOW)
    assert back.speed_kmh == pytest.approx(report.speed_kmh)
    assert back.mileage_km == pytest.approx(report.mileage_km)
    assert back == OsmAndReport(**{**report.__dict__, "speed_kmh": back.speed_kmh, "mileage_km": back.mileage_km})


@given(reports)
def test_json_form_round_trips(report: OsmAndReport) -> None:
    (back,) = parse_json(to_json(report), NOW)
    assert back.speed_kmh == pytest.approx(report.speed_kmh)
    assert back.mileage_km == pytest.approx(report.mileage_km)
    assert back.battery == pytest.approx(report.battery)
    assert (back.device_id, back.fixed_at, back.lat, back.lon, back.course, back.altitude_m, back.acc) == (
        report.device_id,
        report.fixed_at,
        report.lat,
        report.lon,
        report.course,
        report.altitude_m,
        report.acc,
    )
