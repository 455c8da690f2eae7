"""fleet.tracks on hand-built tracks: drives cut by ignition, stops and silences; back-fill out of order; km from
the terminal's odometer or the fixes; gaps; matching drives to bookings; a step crossing a geofence between two
fixes (hypothesis)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fleet.tracks import Booking, DriveRules, Track, drives, gaps, haversine_m, idle_spells, match, plausible
from fleet.usage_audit import CircleGeofence, GeofenceKind, PolygonGeofence
from fleet.usage_audit.track_checks import entries, inside_fraction
from tests.fleet.track_data import Script
from tests.fleet.usage_audit_data import MONDAY, TRAVEL, YARD, local, offset


def day() -> Script:
    """Parked in the yard, 5 km east, 20 min at a meeting, back (a minute's idle before setting off)."""
    return (Script(1, local(MONDAY, 8), YARD).park(10).idle(1).drive(5).park(20).idle(1)
            .drive(5, bearing=270).park(10))


class TestDrives:
    def test_two_drives_with_their_places_times_and_km(self) -> None:
        script = day()
        found = drives(script.track())
        assert len(found) == 2
        out, back = found
        # The drive begins when the ignition came on (the idle before setting off), ends on arrival.
        assert out.start == local(MONDAY, 8, 10).timestamp()
        assert out.end == pytest.approx(local(MONDAY, 8, 11).timestamp() + 500, abs=10)
        assert out.km == pytest.approx(5.0, rel=0.02)
        assert out.km_source == "track"
        assert TRAVEL.pair_km(out.start_place, YARD) < 0.01
        assert TRAVEL.pair_km(back.end_place, YARD) < 0.05
        assert out.max_speed_kmh == 36.0

    def test_back_fill_out_of_order_and_resent_fixes_cut_the_same(self) -> None:
        script = day()
        shuffled = list(script.fixes)
        random.Random(7).shuffle(shuffled)
        shuffled += shuffled[:50]  # resent
        again = Track.from_fixes(1, shuffled)
        assert len(again) == len(script.fixes)
        assert np.all(np.diff(again.t) > 0)
        assert drives(again) == drives(script.track())

    @pytest.mark.parametrize(("minutes", "count"), [(4.5, 1), (5.0, 2)])
    def test_a_stop_splits_a_drive_from_its_minimum(self, minutes: float, count: int) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).idle(minutes).drive(3).park(10)
        assert len(drives(script.track())) == count

    def test_ignition_off_ends_a_drive_however_short(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).drive(3).park(0.5).drive(3).park(10)
        assert len(drives(script.track())) == 2

    def test_without_ignition_movement_decides(self) -> None:
        script = (Script(1, local(MONDAY, 9), YARD).park(10, acc=None).drive(3, acc=None).park(3, acc=None)
                  .drive(2, acc=None).park(10, acc=None))
        found = drives(script.track())
        assert len(found) == 1
        assert found[0].km == pytest.approx(5.0, rel=0.03)

    def test_idling_in_the_yard_is_no_drive(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(5).idle(15).park(5)
        track = script.track()
        assert drives(track) == []
        spells = idle_spells(track, DriveRules(), min_seconds=14 * 60)
        assert len(spells) == 1
        assert spells[0].seconds == pytest.approx(15 * 60)

    def test_a_silence_on_the_move_goes_on_a_silence_in_place_is_a_stop(self) -> None:
        tunnel = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).silence(8)
        tunnel.go_to(offset(tunnel.place, 5000, 90)).drive(3).park(10)
        assert len(drives(tunnel.track())) == 1
        asleep = Script(1, local(MONDAY, 9), YARD).park(5).drive(3).silence(8).drive(3).park(10)
        assert len(drives(asleep.track())) == 2


class TestKm:
    def test_the_odometer_when_it_agrees_with_the_fixes(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD, mileage=10_000.0).park(5).drive(6).park(10)
        (drive,) = drives(script.track())
        assert drive.km_source == "mileage"
        assert drive.km == pytest.approx(6.0, abs=0.15)

    def test_an_odometer_going_backwards_is_not_trusted(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD, mileage=10_000.0).park(5).drive(3)
        script.mileage = 5.0  # the terminal was swapped mid-drive
        script.drive(3).park(10)
        (drive,) = drives(script.track())
        assert drive.km_source == "track"
        assert drive.km == pytest.approx(6.0, rel=0.03)

    @pytest.mark.parametrize(("factor", "source"), [(0.4, "track"), (0.6, "mileage"), (3.2, "mileage"),
                                                    (3.5, "track")])
    def test_an_odometer_far_from_the_fixes_is_not_trusted(self, factor: float, source: str) -> None:
        # 6 km of fixes: the odometer is believed from half of them (0.5 x 6 - 0.5) to three times plus 2 km.
        track = Script(1, local(MONDAY, 9), YARD, mileage=10_000.0).park(5).drive(6).park(10).track()
        scaled = Track.build(1, track.t, track.lat, track.lon, track.speed_kmh, track.acc, track.alarm,
                             10_000.0 + (track.mileage_km - 10_000.0) * factor)
        (drive,) = drives(scaled)
        assert drive.km_source == source
        assert drive.km == pytest.approx(6.0 * factor if source == "mileage" else 6.0, rel=0.03)

    def test_haversine_agrees_with_the_geodesic_within_half_a_percent(self) -> None:
        far = offset(YARD, 30_000, 45)
        assert float(haversine_m(*YARD, *far)) == pytest.approx(30_000, rel=0.005)


class TestGaps:
    def test_silences_inside_a_span_and_at_its_edges(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD).park(10).silence(12).park(10)
        track = script.track()
        lo, hi = local(MONDAY, 8, 45).timestamp(), local(MONDAY, 10).timestamp()
        found = gaps(track, 10 * 60, lo, hi)
        assert [round(g.seconds) for g in found] == [15 * 60, 12 * 60 + 10, 28 * 60 + 10]
        assert found[0].first == -1
        assert found[-1].last == len(track)
        assert gaps(track, 30 * 60, lo, hi) == []


class TestMatch:
    def test_a_drive_belongs_to_the_booking_it_overlaps_within_the_tolerance(self) -> None:
        (out, back) = drives(day().track())
        booking = Booking(7, 1, out.end + 60, out.end + 15 * 60)  # the trip began after arriving at the pickup
        assert match([out, back], [booking], 0) == {0: None, 1: None}
        assert match([out, back], [booking], 6 * 60) == {0: 7, 1: 7}
        other_vehicle = Booking(8, 2, out.start, back.end)
        assert match([out], [other_vehicle], 3600) == {0: None}


# --- crossings between two fixes -------------------------------------------------------------------------------

CENTRE = (30.60, 114.30)


@settings(max_examples=150, deadline=None)
@given(radius=st.floats(20, 20_000), through=st.floats(0, 0.9), bearing=st.floats(0, 360),
       spacing=st.floats(0.2, 30), phase=st.floats(0, 1))
def test_a_straight_line_through_a_circle_is_found_whatever_the_fix_spacing(
    radius: float, through: float, bearing: float, spacing: float, phase: float,
) -> None:
    # A line passing `through * radius` from the centre, fixes every `spacing * radius` metres from far before to
    # far after: fixes may all lie outside, the steps still cross.
    fence = CircleGeofence(name="c", kind=GeofenceKind.other, lat=CENTRE[0], lon=CENTRE[1], radius_m=radius)
    track = _line(offset(CENTRE, through * radius, bearing + 90), bearing, radius, spacing, phase)
    found = entries(track, fence)
    assert len(found) == 1
    assert found[0].seconds > 0


@settings(max_examples=150, deadline=None)
@given(radius=st.floats(20, 20_000), miss=st.floats(1.02, 3), bearing=st.floats(0, 360),
       spacing=st.floats(0.2, 30), phase=st.floats(0, 1))
def test_a_straight_line_passing_outside_a_circle_is_not(
    radius: float, miss: float, bearing: float, spacing: float, phase: float,
) -> None:
    # Steps of a city's scale: over hundreds of km the straight step in the lat/lon plane bows away from the
    # geodesic line `_line` follows by more than the 2 % miss (a 256 km step crossed an 8.5 km circle).
    assume(spacing * radius <= 20_000)
    fence = CircleGeofence(name="c", kind=GeofenceKind.other, lat=CENTRE[0], lon=CENTRE[1], radius_m=radius)
    track = _line(offset(CENTRE, miss * radius, bearing + 90), bearing, radius, spacing, phase)
    assert entries(track, fence) == []


@settings(max_examples=100, deadline=None)
@given(size=st.floats(0.001, 0.2), through=st.floats(-0.9, 0.9), spacing=st.floats(0.2, 30),
       phase=st.floats(0, 1), horizontal=st.booleans())
def test_a_line_through_a_polygon_is_found_and_one_beside_it_is_not(
    size: float, through: float, spacing: float, phase: float, horizontal: bool,
) -> None:
    # The polygon's edges are straight in the lat/lon plane, and so are these lines (a parallel or a meridian).
    lat, lon = CENTRE
    square = PolygonGeofence(name="p", kind=GeofenceKind.other, vertices=(
        (lat + size, lon - size), (lat + size, lon + size), (lat - size, lon + size), (lat - size, lon - size)))

    def line_at(shift: float) -> Track:
        along = np.arange(-3 * size - phase * spacing * size, 3 * size + spacing * size, spacing * size)
        if along.size < 2:
            along = np.array([-3 * size, 3 * size])
        lats = lat + shift + 0 * along if horizontal else lat + along
        lons = lon + along if horizontal else lon + shift + 0 * along
        return Track.build(1, local(MONDAY, 9).timestamp() + np.arange(along.size), lats, lons)

    assert len(entries(line_at(through * size), square)) == 1
    assert entries(line_at(1.02 * size if through >= 0 else -1.02 * size), square) == []


def _line(middle: tuple[float, float], bearing: float, scale: float, spacing: float, phase: float) -> Track:
    """Fixes on a straight line through ``middle`` from 3 x scale before it to 3 x scale after, every
    ``spacing * scale`` metres, the first shifted by ``phase`` of a spacing, one a second."""
    step = spacing * scale
    span = 3 * scale
    positions = np.arange(-span - phase * step, span + step, step)
    if positions.size < 2:
        positions = np.array([-span, span])
    points = [offset(middle, abs(p), bearing if p >= 0 else bearing + 180) for p in positions]
    t0 = local(MONDAY, 9).timestamp()
    return Track.build(1, t0 + np.arange(len(points)), [p[0] for p in points], [p[1] for p in points])


def test_inside_fraction_of_a_step_across_a_circle_is_its_chord() -> None:
    fence = CircleGeofence(name="c", kind=GeofenceKind.other, lat=CENTRE[0], lon=CENTRE[1], radius_m=1000)
    west, east = offset(CENTRE, 2000, 270), offset(CENTRE, 2000, 90)
    frac = inside_fraction(fence, np.array([west[0], east[0]]), np.array([west[1], east[1]]))
    assert frac[0] == pytest.approx(0.5, abs=0.005)


def test_two_fixes_an_hour_apart_outside_a_fence_are_no_crossing_when_the_step_is_too_long() -> None:
    fence = CircleGeofence(name="c", kind=GeofenceKind.other, lat=CENTRE[0], lon=CENTRE[1], radius_m=1000)
    west, east = offset(CENTRE, 2000, 270), offset(CENTRE, 2000, 90)
    t0 = local(MONDAY, 9).timestamp()
    track = Track.build(1, [t0, t0 + 3600], [west[0], east[0]], [west[1], east[1]])
    assert len(entries(track, fence)) == 1
    assert entries(track, fence, max_step_seconds=600) == []
    (entry,) = entries(track, fence)
    assert entry.seconds == pytest.approx(30 * 60, rel=0.01)  # the plane and the geodesic agree to 1 %
    assert entry.entered == pytest.approx(t0 + 15 * 60, abs=30)
    assert entry.left == pytest.approx(t0 + 45 * 60, abs=30)


class TestExcerpt:
    def test_a_winding_drive_is_cut_to_its_shape_within_the_points(self) -> None:
        script = Script(1, local(MONDAY, 9), YARD)
        for leg in range(6):  # a staircase of 3 km legs, each wiggling every 300 m
            for wiggle in range(10):
                script.drive(0.3, bearing=(0 if leg % 2 else 90) + (30 if wiggle % 2 else -30))
        track = script.track()
        short = track.excerpt(0, len(track) - 1)
        assert 2 < len(short) <= 12
        assert short[0] == track.point(0)
        assert short[-1] == track.point(len(track) - 1)
        every = {(p["at"], p["lat"], p["lon"]) for p in (track.point(i) for i in range(len(track)))}
        assert all((p["at"], p["lat"], p["lon"]) in every for p in short)  # fixes of the track, in time order
        assert [p["at"] for p in short] == sorted(p["at"] for p in short)
        at = {track.point(i)["at"]: i for i in range(len(track))}
        kept = [at[p["at"]] for p in short]
        for corner in (30, 60, 90, 120, 150):  # the staircase's corners (a leg is 30 fixes), the wiggles gone
            assert any(abs(i - corner) <= 3 for i in kept), (corner, kept)
        assert len(track.excerpt(0, len(track) - 1, points=100)) > 12  # the corners, when there is room

    def test_a_straight_drive_is_its_ends(self) -> None:
        track = Script(1, local(MONDAY, 9), YARD).drive(5).track()
        assert track.excerpt(0, len(track) - 1) == [track.point(0), track.point(len(track) - 1)]
        assert track.excerpt(3, 3) == [track.point(3)]
        assert track.excerpt(5, 4) == []


class TestPlausible:
    """Fixes no rule should read leave the track before the rules; the rest of the track stays."""

    @staticmethod
    def drive() -> Track:
        return Script(1, local(MONDAY, 8), YARD).park(5).drive(10, kmh=60).park(5).track()

    def test_a_clean_track_is_untouched(self) -> None:
        track = self.drive()
        kept = plausible(track)
        assert len(kept) == len(track)
        np.testing.assert_array_equal(kept.speed_kmh, track.speed_kmh)

    @pytest.mark.parametrize("status", [0, 1, 0xFFFF_FFFD])  # bit 1 clear: not positioned
    def test_unpositioned_fixes_go_positioned_and_unknown_stay(self, status: int) -> None:
        track = self.drive()
        marks = np.full(len(track), 3, dtype=np.int64)
        marks[40] = status
        marks[41] = -1  # OsmAnd: no status, positioned
        marked = Track.build(1, track.t, track.lat, track.lon, track.speed_kmh, track.acc, track.alarm,
                             track.mileage_km, marks)
        kept = plausible(marked)
        assert len(kept) == len(track) - 1
        assert track.t[40] not in kept.t
        assert track.t[41] in kept.t

    @pytest.mark.parametrize("bad", [(np.nan, 114.3), (91.0, 114.3), (30.5, 181.0), (0.0, 0.0), (np.inf, 114.3)])
    def test_bad_coordinates_go(self, bad: tuple[float, float]) -> None:
        track = self.drive()
        lat, lon = track.lat.copy(), track.lon.copy()
        lat[30], lon[30] = bad
        kept = plausible(Track.build(1, track.t, lat, lon, track.speed_kmh))
        assert len(kept) == len(track) - 1
        assert track.t[30] not in kept.t

    @pytest.mark.parametrize(("where", "how_many"), [(40, 1), (40, 3), (0, 1), (-1, 2)])
    def test_a_jump_away_and_back_drops_the_outlier_only(self, where: int, how_many: int) -> None:
        track = self.drive()
        lat, lon = track.lat.copy(), track.lon.copy()
        idx = np.arange(where, where + how_many) if where >= 0 else np.arange(len(track) - how_many, len(track))
        lat[idx], lon[idx] = 31.0, 121.0  # Shanghai, 700 km away, seconds later
        kept = plausible(Track.build(1, track.t, lat, lon, track.speed_kmh))
        assert len(kept) == len(track) - how_many
        assert not np.isin(track.t[idx], kept.t).any()
        assert float(kept.step_m.sum()) == pytest.approx(float(track.step_m.sum()), rel=0.05)

    def test_a_long_silence_then_far_away_is_not_a_jump(self) -> None:
        script = Script(1, local(MONDAY, 8), YARD).park(5).silence(6 * 60).go_to(offset(YARD, 100_000, 0)).park(5)
        track = script.track()
        assert len(plausible(track)) == len(track)

    @pytest.mark.parametrize("speed", [np.inf, np.nan, 6553.5, 1e300, -5.0])
    def test_an_impossible_speed_is_taken_from_the_steps(self, speed: float) -> None:
        track = self.drive()
        speeds = track.speed_kmh.copy()
        speeds[40:50] = speed
        kept = plausible(Track.build(1, track.t, track.lat, track.lon, speeds))
        assert len(kept) == len(track)
        assert np.all(np.isfinite(kept.speed_kmh))
        assert kept.speed_kmh.max() <= 300
        assert kept.speed_kmh[40:50] == pytest.approx(60, rel=0.05)
