"""The track rules (fleet.usage_audit.track_checks) on hand-built tracks, each with a near miss, and once through
the database: Position rows written, ``findings()`` reading them on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from fleet import clock, positions, usage_audit
from fleet.enums import Category, TripStatus, VehicleStatus
from fleet.models import Agency
from fleet.tracks import haversine_m
from fleet.usage_audit import TRACK_KINDS, AuditRules, Finding, FindingKind, default_rules, findings, track_checks
from fleet.usage_audit.config import TrackRules
from fleet.usage_audit.evidence import TripRow, VehicleRow
from fleet.usage_audit.geofences import CircleGeofence, GeofenceKind
from fleet.usage_audit.track_checks import VehicleDay
from tests.factories import agency, jurisdiction_tree, registered
from tests.fleet.test_usage_audit import add_trip
from tests.fleet.test_usage_audit_checks import Car, trip
from tests.fleet.track_data import Script
from tests.fleet.usage_audit_data import FENCE, MONDAY, SATURDAY, YARD, local, offset

RULES = AuditRules(calendar=default_rules().calendar, geofences=(FENCE,))
CAR = Car(1, home=YARD)
VEHICLE = VehicleRow(id=1, plate=CAR.plate, agency_id=1, agency="WH-GA", home=YARD, status=VehicleStatus.active,
                     terminal_id="13800000001")


def audit(kind: FindingKind, script: Script, trips: list[TripRow] = (),  # type: ignore[assignment]
          rules: AuditRules = RULES, start: datetime | None = None, end: datetime | None = None) -> list[Finding]:
    start = start or local(MONDAY, 0) - timedelta(days=3)
    end = end or local(MONDAY, 0) + timedelta(days=7)
    day = VehicleDay(VEHICLE, script.track(), trips, rules, start, end, end)
    found = list(getattr(track_checks, kind.value)([day]))
    for f in found:
        assert f.kind is kind
        assert f.evidence["source"] == "track"
        json.dumps(f.evidence, ensure_ascii=False, allow_nan=False)
    return found


def with_tracks(**changes: float) -> AuditRules:
    return RULES.model_copy(update={"tracks": TrackRules(**changes)})


class TestUnscheduledDrive:
    def test_an_unbooked_drive_is_found_a_booked_one_is_not(self) -> None:
        script = Script(1, local(SATURDAY, 9), YARD).park(10).drive(8).park(30).drive(8, bearing=270).park(10)
        (out, _back) = audit(FindingKind.unscheduled_drive, script)
        assert out.at == local(SATURDAY, 9, 10) - timedelta(seconds=10)  # the departure fix, the last parked
        assert out.evidence["km"] == pytest.approx(8, rel=0.03)
        assert 2 <= len(out.evidence["track"]) <= 12
        booked = trip(local(SATURDAY, 9, 30), minutes=30, vehicle=CAR)
        assert audit(FindingKind.unscheduled_drive, script, [booked]) == []

    def test_an_errand_soon_after_a_trip_is_not_covered_by_it(self) -> None:
        # A booking holds the vehicle for its drives from the yard and back (3 km: ~9 min at 25 km/h, + 20 min),
        # not a flat hour: an errand 25 min after the vehicle is back is 非调度用车.
        dropoff = offset(YARD, 3000, 90)
        booked = trip(local(MONDAY, 9, 0), minutes=6, vehicle=CAR, pickup=YARD, dropoff=dropoff)
        script = Script(1, local(MONDAY, 8, 50), YARD).park(10).drive(3).park(20).drive(3, bearing=270)
        script.park(25).drive(8, bearing=0).park(30)
        (errand,) = audit(FindingKind.unscheduled_drive, script, [booked])
        assert errand.evidence["km"] == pytest.approx(8, rel=0.03)
        # the drive back after 20 min at the drop-off is the booking's
        assert errand.at > local(MONDAY, 9, 40)
        # a vehicle without a yard on record: the flat tolerance
        homeless = trip(local(MONDAY, 9, 0), minutes=6, vehicle=Car(1), pickup=YARD, dropoff=dropoff)
        no_home = VehicleRow(id=1, plate=CAR.plate, agency_id=1, agency="WH-GA", home=None,
                             status=VehicleStatus.active, terminal_id="13800000001")
        day = VehicleDay(no_home, script.track(), [homeless], RULES, local(MONDAY, 0), local(MONDAY, 23),
                         local(MONDAY, 23))
        assert list(track_checks.unscheduled_drive([day])) == []

    @pytest.mark.parametrize(("km", "found"), [(0.9, 0), (1.1, 1)])
    def test_moves_in_the_yard_do_not_count(self, km: float, found: int) -> None:
        script = Script(1, local(SATURDAY, 9), YARD).park(10).drive(km).park(10)
        assert len(audit(FindingKind.unscheduled_drive, script)) == found


class TestDetour:
    def test_straying_and_ending_away(self) -> None:
        dropoff = offset(YARD, 5000, 90)
        script = Script(1, local(MONDAY, 9), YARD).park(5).drive(5).park(10)
        on_route = trip(local(MONDAY, 9, 5), minutes=9, vehicle=CAR, pickup=YARD, dropoff=dropoff)
        assert audit(FindingKind.detour, script, [on_route]) == []
        strays = Script(1, local(MONDAY, 9), YARD).park(5).drive(2.5).drive(4, bearing=0).drive(4, bearing=180)
        strays.drive(2.5).park(10)
        (found,) = audit(FindingKind.detour, strays, [trip(local(MONDAY, 9, 5), minutes=22, vehicle=CAR,
                                                            pickup=YARD, dropoff=dropoff)])
        assert found.evidence["reasons"] == ["strayed"]
        assert found.evidence["farthest"]["off_route_m"] == pytest.approx(4000, rel=0.05)
        short = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).park(10)
        (away,) = audit(FindingKind.detour, short, [trip(local(MONDAY, 9, 5), minutes=6, vehicle=CAR, pickup=YARD,
                                                         dropoff=dropoff)])
        assert away.evidence["reasons"] == ["ended_away"]
        assert away.evidence["end_from_dropoff_m"] == pytest.approx(2000, rel=0.05)

    def test_a_terminal_silent_through_the_end_does_not_say_where_it_ended(self) -> None:
        dropoff = offset(YARD, 5000, 90)
        booked = trip(local(MONDAY, 9, 5), minutes=30, vehicle=CAR, pickup=YARD, dropoff=dropoff)
        unplugged = Script(1, local(MONDAY, 9), YARD).park(5).drive(2).silence(40).go_to(dropoff).park(10)
        assert audit(FindingKind.detour, unplugged, [booked]) == []  # 终端离线 says it went silent
        # asleep where it stood (the ignition off): that is where the trip ended
        parked = Script(1, local(MONDAY, 9), YARD).park(5).drive(2).park(1).silence(40).park(10)
        (away,) = audit(FindingKind.detour, parked, [booked])
        assert away.evidence["reasons"] == ["ended_away"]


class TestTripLeftInProgress:
    """A trip started and never completed ends, for the track rules, at the earliest of now, the vehicle's next
    booking's start and its planned end + the match tolerance: not at "now"."""

    def test_the_next_booking_is_not_a_detour_of_it(self) -> None:
        east, north = offset(YARD, 3000, 90), offset(YARD, 10_000, 0)
        left_open = trip(local(MONDAY, 9, 5), minutes=180, vehicle=CAR, pickup=YARD, dropoff=east,
                         status=TripStatus.in_progress)
        nxt = trip(local(MONDAY, 11), minutes=30, vehicle=CAR, pickup=YARD, dropoff=north)
        script = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).park(20).drive(3, bearing=270)
        script.park(95).drive(10, bearing=0).park(10).drive(10, bearing=180).park(30)
        assert script.fixes[-1].fixed_at > local(MONDAY, 11, 30)
        found = audit(FindingKind.detour, script, [left_open, nxt])
        assert [f.trip_id for f in found] == []
        # it still runs to "now" when nothing comes after it and it is not yet overdue
        early = VehicleDay(VEHICLE, script.track(), [left_open], RULES, local(MONDAY, 0), local(MONDAY, 23),
                           local(MONDAY, 10))
        ((booking, _),) = early.bookings
        assert booking.end == local(MONDAY, 10).timestamp()

    def test_a_drive_hours_later_is_not_covered_by_it(self) -> None:
        east = offset(YARD, 3000, 90)
        left_open = trip(local(MONDAY, 9, 5), minutes=10, vehicle=CAR, pickup=YARD, dropoff=east,
                         status=TripStatus.in_progress)
        script = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).park(5).drive(3, bearing=270).park(260)
        script.drive(8, bearing=0).park(30)
        (errand,) = audit(FindingKind.unscheduled_drive, script, [left_open])
        assert errand.at > local(MONDAY, 13, 30)
        assert errand.evidence["km"] == pytest.approx(8, rel=0.03)


class TestGeofenceEntry:
    def test_a_stay_past_the_dwell_is_found_passing_through_is_not(self) -> None:
        outside = offset((FENCE.lat, FENCE.lon), 3000, 270)
        visit = Script(1, local(SATURDAY, 9), outside).drive(3).park(30).drive(3, bearing=270)
        (found,) = audit(FindingKind.geofence_entry, visit)
        assert found.evidence["geofence"] == FENCE.name
        assert found.evidence["seconds_inside"] >= 30 * 60
        passing = Script(1, local(SATURDAY, 9), outside).drive(6, kmh=30)  # 1 km through the 500 m circle: 2 min
        assert audit(FindingKind.geofence_entry, passing) == []
        # the geometry: with thresholds low enough, the 2 minutes across are a stay
        assert len(audit(FindingKind.geofence_entry, passing,
                         rules=with_tracks(geofence_dwell_seconds=60, geofence_transit_minutes=1))) == 1

    def test_standing_in_its_own_yard_inside_the_area_is_not_a_visit(self) -> None:
        centre = (FENCE.lat, FENCE.lon)
        yard, elsewhere = offset(centre, 400, 270), offset(centre, 400, 90)  # both inside, 800 m apart
        at_home = VehicleRow(id=1, plate=CAR.plate, agency_id=1, agency="WH-GA", home=yard,
                             status=VehicleStatus.active, terminal_id="13800000001")
        outside = offset(yard, 3000, 270)

        def judged(vehicle: VehicleRow, script: Script) -> list[Finding]:
            start, end = local(SATURDAY, 0), local(SATURDAY, 23)
            return list(track_checks.geofence_entry([VehicleDay(vehicle, script.track(), [], RULES, start, end,
                                                                end)]))

        home_and_back = Script(1, local(SATURDAY, 7), yard).park(60).drive(3, bearing=270).park(120)
        home_and_back.drive(3, bearing=90).park(60)
        assert judged(at_home, home_and_back) == []
        assert len(judged(VEHICLE, home_and_back)) == 2  # the same stops, the yard elsewhere: visits
        # from its yard to a stop elsewhere in the area: a visit
        tour = Script(1, local(SATURDAY, 7), outside).drive(3).park(60).drive(0.8).park(30).drive(0.8, bearing=270)
        tour.park(60)
        (visit,) = judged(at_home, tour)
        stop = visit.evidence["stopped_at"]
        assert float(haversine_m(stop["lat"], stop["lon"], *elsewhere)) < 50

    def test_a_crossing_between_two_fixes_counts(self) -> None:
        start = offset((FENCE.lat, FENCE.lon), 3100, 270)
        sparse = Script(1, local(SATURDAY, 9), start, step=300).drive(7.5, kmh=30)  # fixes 2.5 km apart
        assert all(not FENCE.contains(f.lat, f.lon) for f in sparse.fixes)
        assert len(audit(FindingKind.geofence_entry, sparse,
                         rules=with_tracks(geofence_dwell_seconds=60, geofence_transit_minutes=1))) == 1

    # A lake-sized circle: 4 km across, a public road through it.
    LAKE = CircleGeofence(name="某风景区", kind=GeofenceKind.scenic_area, lat=FENCE.lat, lon=FENCE.lon, radius_m=2000)

    def lake(self, **changes: float) -> AuditRules:
        return RULES.model_copy(update={"geofences": (self.LAKE,), "tracks": TrackRules(**changes)})

    def test_driving_through_is_a_crossing_stopping_inside_is_a_visit(self) -> None:
        west = offset((FENCE.lat, FENCE.lon), 2500, 270)
        through = Script(1, local(SATURDAY, 9), west).drive(5, kmh=35)  # 4 km inside: ~7 min, no stop
        assert audit(FindingKind.geofence_entry, through, rules=self.lake()) == []
        jam = Script(1, local(SATURDAY, 9), west).drive(2.5, kmh=35).idle(2).drive(2.5, kmh=35)  # a red light
        assert audit(FindingKind.geofence_entry, jam, rules=self.lake()) == []
        for stop, visit in ((lambda s: s.idle(6), "stopped"),  # standing min_stop with the engine on
                            (lambda s: s.park(2), "stopped"),  # the ignition off, however briefly
                            (lambda s: s.silence(30), "stopped"),  # a terminal asleep
                            (lambda s: s.drive(1.5, kmh=12, bearing=0).drive(3, kmh=12, bearing=180)
                             .drive(1.5, kmh=12, bearing=0), "long_stay")):
            script = Script(1, local(SATURDAY, 9), west).drive(2.5, kmh=35)
            stop(script)
            script.drive(2.5, kmh=35)
            (found,) = audit(FindingKind.geofence_entry, script, rules=self.lake())
            assert found.evidence["visit"] == visit
        slow = Script(1, local(SATURDAY, 9), west).drive(5, kmh=12)  # 20 min across without a stop
        assert len(audit(FindingKind.geofence_entry, slow, rules=self.lake())) == 1
        assert audit(FindingKind.geofence_entry, slow, rules=self.lake(geofence_transit_minutes=25)) == []

    def test_a_stop_at_the_pickup_booked_inside_is_the_booked_errand(self) -> None:
        car = Car(1, home=offset((FENCE.lat, FENCE.lon), 3000, 270))
        pickup = (FENCE.lat, FENCE.lon)
        script = Script(1, local(MONDAY, 9), car.home).park(5).drive(3, kmh=36).park(3).drive(3, kmh=36, bearing=0)
        script.park(10)
        booked = trip(local(MONDAY, 9, 10), minutes=10, vehicle=car, pickup=pickup,
                      dropoff=offset(pickup, 3000, 0))
        assert audit(FindingKind.geofence_entry, script, [booked], rules=self.lake()) == []
        (unbooked,) = audit(FindingKind.geofence_entry, script, rules=self.lake())
        assert unbooked.evidence["visit"] == "stopped"
        elsewhere = trip(local(MONDAY, 9, 10), minutes=10, vehicle=car, pickup=offset(pickup, 1000, 0),
                         dropoff=offset(pickup, 3000, 0))  # booked inside too, but 1 km from where it stopped
        (found,) = audit(FindingKind.geofence_entry, script, [elsewhere], rules=self.lake())
        assert found.trip_id == elsewhere.id


class TestParking:
    def test_away_from_home_overnight_without_a_booking(self) -> None:
        away = offset(YARD, 3000, 0)
        script = Script(1, local(MONDAY, 17), YARD, step=60).park(30).go_to(away).park(4 * 60)
        (found,) = audit(FindingKind.parking, script)
        assert found.at == local(MONDAY, 18, 0, ) + timedelta(minutes=1)  # 18:00 is still working time
        assert found.evidence["distance_m"] == pytest.approx(3000, rel=0.01)
        home = Script(1, local(MONDAY, 17), YARD, step=60).park(4 * 60)
        assert audit(FindingKind.parking, home) == []
        booked = trip(local(MONDAY, 17, 30), minutes=4 * 60, vehicle=CAR)
        assert audit(FindingKind.parking, script, [booked]) == []

    def test_the_distance_is_the_farthest_it_went(self) -> None:
        script = Script(1, local(MONDAY, 20), YARD, step=60).park(10).drive(3, bearing=0).park(60)
        script.drive(2.4, bearing=180).park(60)
        (found,) = audit(FindingKind.parking, script)
        assert found.evidence["distance_m"] == pytest.approx(3000, rel=0.03)

    @pytest.mark.parametrize(("minutes", "found"), [(59, 0), (61, 1)])
    def test_the_minimum(self, minutes: int, found: int) -> None:
        script = Script(1, local(MONDAY, 20), offset(YARD, 600, 0), step=60).park(minutes + 1)
        assert len(audit(FindingKind.parking, script)) == found


    @pytest.mark.parametrize("vehicle", [
        VehicleRow(id=1, plate=CAR.plate, agency_id=1, agency="WH-GA", home=YARD, status=VehicleStatus.maintenance,
                   terminal_id="13800000001"),
        VehicleRow(id=1, plate=CAR.plate, agency_id=1, agency="WH-GA", home=None, status=VehicleStatus.active,
                   terminal_id="13800000001"),
    ], ids=["in-the-workshop", "no-home"])
    def test_not_judged(self, vehicle: VehicleRow) -> None:
        script = Script(1, local(MONDAY, 17), YARD, step=60).park(30).go_to(offset(YARD, 3000, 0)).park(4 * 60)
        start, end = local(MONDAY, 0), local(MONDAY, 23, 59)
        day = VehicleDay(vehicle, script.track(), [], RULES, start, end, end)
        assert list(track_checks.parking([day])) == []
        assert len(list(track_checks.parking([VehicleDay(VEHICLE, script.track(), [], RULES, start, end, end)]))) == 1


class TestTerminalOffline:
    def test_silence_during_a_trip(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).drive(3).silence(15).drive(3).park(5)
        in_use = trip(local(MONDAY, 9), minutes=30, vehicle=CAR)
        (found,) = audit(FindingKind.terminal_offline, script, [in_use])
        assert found.evidence["reason"] == "silent_in_use"
        assert found.evidence["minutes"] == pytest.approx(15.2, abs=0.2)
        assert audit(FindingKind.terminal_offline, script) == []  # not in use: a terminal may sleep
        brief = Script(1, local(MONDAY, 9), YARD).drive(3).silence(9).drive(3).park(5)
        assert audit(FindingKind.terminal_offline, brief, [in_use]) == []

    def test_a_parked_terminal_asleep_is_not_offline(self) -> None:
        in_use = trip(local(MONDAY, 9), minutes=60, vehicle=CAR)
        asleep = Script(1, local(MONDAY, 9), YARD).drive(3).park(1).silence(25).park(1).drive(3).park(5)
        assert audit(FindingKind.terminal_offline, asleep, [in_use]) == []
        # parked, silent, and turned up elsewhere: it moved without reporting (unplugged)
        moved = Script(1, local(MONDAY, 9), YARD).drive(3).park(1).silence(25)
        moved.go_to(offset(moved.place, 2000, 90)).park(1).drive(3).park(5)
        (found,) = audit(FindingKind.terminal_offline, moved, [in_use])
        assert found.evidence["state_before"] == "parked"
        assert found.evidence["moved_m"] == pytest.approx(2000, rel=0.01)
        # the engine running: a terminal reports while the ignition is on
        idling = Script(1, local(MONDAY, 9), YARD).drive(3).idle(1).silence(25).idle(1).drive(3).park(5)
        (found,) = audit(FindingKind.terminal_offline, idling, [in_use])
        assert found.evidence["state_before"] == "ignition_on"

    def test_power_cut_alarm_bit(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(5)
        script.alarm = 1 << 8
        script.park(2)
        (found,) = audit(FindingKind.terminal_offline, script)
        assert found.evidence["alarm_bit"] == 8
        assert found.evidence["alarm"] == "终端主电源掉电"
        blip = Script(1, local(MONDAY, 9), YARD).park(5)
        blip.alarm = 1 << 7
        blip.park(0.5)
        blip.alarm = 0
        blip.park(5)
        assert audit(FindingKind.terminal_offline, blip) == []  # a crank's voltage dip

    def test_a_brief_alarm_bit_then_silence(self) -> None:
        # Cut the power: the terminal's backup lasts a few fixes, then nothing (or nothing more in the track).
        for after in (30, None):
            script = Script(1, local(MONDAY, 9), YARD).park(5)
            script.alarm = 1 << 8
            script.park(0.5)
            if after is not None:
                script.alarm = 0
                script.silence(after).park(5)
            (found,) = audit(FindingKind.terminal_offline, script)
            assert found.evidence["silent_after"] is True
            # to the next fix; at the track's end only its own 20 s, below the minimum: the silence decides
            assert found.evidence["minutes"] == (30.5 if after else 0.3)


class TestSpeedingAndIdling:
    @pytest.mark.parametrize(("seconds", "found"), [(20, 0), (30, 1)])
    def test_speeding_sustained(self, seconds: int, found: int) -> None:
        script = Script(1, local(MONDAY, 9), YARD).drive(3, kmh=100).drive(seconds * 130 / 3600, kmh=130)
        script.drive(3, kmh=100)
        assert len(audit(FindingKind.speeding, script)) == found

    @pytest.mark.parametrize(("minutes", "found"), [(9, 0), (10, 1)])
    def test_idling(self, minutes: int, found: int) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(5).idle(minutes).drive(3).park(5)
        assert len(audit(FindingKind.idling, script)) == found


class TestImplausibleFixes:
    """Bad fixes never reach a rule: a glitched speed is not 超速, a stale or unpositioned fix 700 km away does
    not make an 8 km errand 2,400 km."""

    def test_a_glitched_speed_is_not_speeding(self) -> None:
        script = Script(1, local(SATURDAY, 9), YARD).park(5).drive(10, kmh=60).park(5)
        for i in range(40, 52):  # two minutes of 0xFFFF / inf: "sustained"
            script.fixes[i] = replace(script.fixes[i], speed_kmh=6553.5 if i % 2 else float("inf"))
        assert audit(FindingKind.speeding, script) == []

    def test_unpositioned_and_jumped_fixes_do_not_inflate_the_km(self) -> None:
        script = Script(1, local(SATURDAY, 9), YARD).park(10).drive(8).park(30)
        script.fixes[70] = replace(script.fixes[70], lat=31.0, lon=121.0, status=0)  # bit 1 clear
        script.fixes[80] = replace(script.fixes[80], lat=31.0, lon=121.0, status=None)  # a stale position
        (out,) = audit(FindingKind.unscheduled_drive, script)
        assert out.evidence["km"] == pytest.approx(8, rel=0.03)
        assert all(p["lon"] < 115 for p in out.evidence["track"])


class TestOverdrivenByTrack:
    def test_the_track_km_win_over_the_odometer(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(5).drive(20).park(10)
        honest = trip(local(MONDAY, 9, 5), minutes=34, vehicle=CAR, planned_km=5, odometer=(100, 105))
        day = VehicleDay(VEHICLE, script.track(), [honest], RULES, local(MONDAY, 0), local(MONDAY, 23),
                         local(MONDAY, 23))
        km = track_checks.trip_km([day])
        assert km[honest.id][0] == pytest.approx(20, rel=0.03)
        from fleet.usage_audit import checks
        (found,) = checks.overdriven([honest], RULES, km)
        assert found.evidence["source"] == "track"
        assert list(checks.overdriven([honest], RULES)) == []  # the odometer alone says 5 km


# --- through the database --------------------------------------------------------------------------------------


@pytest.fixture
def ga(session: Session) -> Agency:
    jurisdiction_tree(session)
    return agency(session, "WH-GA", quotas={Category.general: 10})


@pytest.mark.parametrize("batch", [1, 2, usage_audit.AUDIT_BATCH])
def test_findings_read_positions_from_the_database(session: Session, ga: Agency, batch: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Read and judged a few vehicles at a time (one here, so that the booked car, the other agency's and the one
    with no fixes each come in a batch of their own), the findings are those of the whole fleet read at once."""
    monkeypatch.setattr(usage_audit, "AUDIT_BATCH", batch)
    registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1])  # no terminal, no fixes: nothing to judge
    car = registered(session, "WH-GA", home_lat=YARD[0], home_lon=YARD[1])
    other = agency(session, "WH-B", quotas={Category.general: 10})
    theirs = registered(session, "WH-B", home_lat=YARD[0], home_lon=YARD[1])
    outside = offset((FENCE.lat, FENCE.lon), 3000, 270)
    sunday = Script(car.id, local(SATURDAY, 9), outside).park(10).drive(3).park(30).drive(3, bearing=270).park(10)
    booked = Script(car.id, local(MONDAY, 9), YARD).park(5).drive(20).park(10)
    own = Script(theirs.id, local(SATURDAY, 9), YARD).park(5).drive(5).park(5)
    trip_row = add_trip(session, ga, at=local(MONDAY, 9, 5), minutes=34, vehicle=car, planned_km=5,
                        odometer=(100, 105), pickup=YARD, dropoff=booked.place)
    assert trip_row.status is TripStatus.completed
    with clock.travel(local(SATURDAY, 23)):  # store refuses fixes ahead of the platform's clock
        positions.store(session, sunday.fixes + booked.fixes + own.fixes)
        session.flush()
        rules = AuditRules(calendar=default_rules().calendar, geofences=(FENCE,))
        window = (local(MONDAY, 0), local(SATURDAY, 23, 59))  # SATURDAY is the Monday's week's
        found = findings(session, start=window[0], end=window[1], rules=rules,
                         kinds=set(TRACK_KINDS) | {FindingKind.overdriven})
        kinds = {(f.kind, f.plate) for f in found}
        assert (FindingKind.unscheduled_drive, car.plate) in kinds
        assert (FindingKind.geofence_entry, car.plate) in kinds
        assert (FindingKind.unscheduled_drive, theirs.plate) in kinds
        over = [f for f in found if f.kind is FindingKind.overdriven]
        assert [f.trip_id for f in over] == [trip_row.id]
        assert over[0].evidence["source"] == "track"
        assert over[0].evidence["track_km"] == pytest.approx(20, rel=0.03)
        scoped = findings(session, start=window[0], end=window[1], rules=rules, kinds=set(TRACK_KINDS),
                          agency_ids=[other.id])
        assert {f.plate for f in scoped} == {theirs.plate}
        for f in found:
            assert Finding.model_validate_json(f.model_dump_json()) == f
        monkeypatch.setattr(usage_audit, "AUDIT_BATCH", 10_000)
        assert findings(session, start=window[0], end=window[1], rules=rules,
                        kinds=set(TRACK_KINDS) | {FindingKind.overdriven}) == found
