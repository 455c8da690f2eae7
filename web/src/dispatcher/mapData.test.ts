import { describe, expect, it } from 'vitest';

import type { Trip } from '../api';
import { wgs84ToGcj02 } from './gcj02';
import {
  depotsOf,
  drawnTrackOf,
  extentOf,
  liveColour,
  liveVehiclesOf,
  onlineCount,
  routeOf,
  stopsOf,
  trackableTrips,
} from './mapData';
import type { BoardVehicle, CalendarItem, LivePosition, TrackFeature, TripTrack } from './types';

const HOME = { lat: 30.5928, lon: 114.3055 };

function trip(id: number, pickup: [number, number], dropoff: [number, number], status = 'assigned'): Trip {
  return {
    id,
    agency: 'WH-GA',
    purpose: 'p',
    priority: 'law_enforcement',
    categories: [],
    passengers: 1,
    pickup: { lon: pickup[0], lat: pickup[1], address: `pickup ${id}` },
    dropoff: { lon: dropoff[0], lat: dropoff[1], address: `dropoff ${id}` },
    earliest_pickup: '2030-03-12T09:00:00+08:00',
    latest_pickup: '2030-03-12T09:30:00+08:00',
    dwell_min: 0,
    planned_km: 5,
    status,
    decision_note: null,
    dispatch_note: null,
    requested_by: null,
    assignment: null,
    started_at: null,
    completed_at: null,
    created_at: '2030-03-01T09:00:00+08:00',
  };
}

function held(id: number, vehicle: number, tripId: number, start: string): CalendarItem {
  return { id: `a${id}`, vehicle_id: vehicle, kind: 'assignment', start, end: start, trip_id: tripId };
}

const vehicle: Pick<BoardVehicle, 'id' | 'home_lat' | 'home_lon'> = { id: 7, home_lat: HOME.lat, home_lon: HOME.lon };

describe('stops of the day', () => {
  it("are each live trip's pickup and drop-off; cancelled and rejected trips are left out", () => {
    const stops = stopsOf(
      [trip(1, [114.31, 30.6], [114.35, 30.64]), trip(2, [114.2, 30.5], [114.1, 30.4], 'cancelled')],
      'wgs84',
    );
    expect(stops.features.map((f) => [f.properties.trip, f.properties.kind, f.geometry.coordinates])).toEqual([
      [1, 'pickup', [114.31, 30.6]],
      [1, 'dropoff', [114.35, 30.64]],
    ]);
  });

  it('are shifted to GCJ-02 when the base map is, and only then', () => {
    const [feature] = stopsOf([trip(1, [114.31, 30.6], [114.35, 30.64])], 'gcj02').features;
    expect(feature?.geometry.coordinates).toEqual(wgs84ToGcj02([114.31, 30.6]));
  });
});

describe("a vehicle's route", () => {
  const trips = new Map([
    [1, trip(1, [114.31, 30.6], [114.35, 30.64])],
    [2, trip(2, [114.36, 30.65], [114.3, 30.58])],
  ]);

  it('runs home → pickup → drop-off → … → home, its assignments in time order', () => {
    const route = routeOf(
      vehicle,
      [
        held(2, 7, 2, '2030-03-12T14:00:00+08:00'),
        held(1, 7, 1, '2030-03-12T09:00:00+08:00'),
        held(3, 8, 1, '2030-03-12T08:00:00+08:00'), // another vehicle's
        {
          id: 's1',
          vehicle_id: 7,
          kind: 'sealed',
          start: '2030-03-12T20:00:00+08:00',
          end: '2030-03-12T23:00:00+08:00',
        },
      ],
      trips,
      'wgs84',
    );
    expect(route.trips).toEqual([1, 2]);
    expect(route.line?.geometry.coordinates).toEqual([
      [HOME.lon, HOME.lat],
      [114.31, 30.6],
      [114.35, 30.64],
      [114.36, 30.65],
      [114.3, 30.58],
      [HOME.lon, HOME.lat],
    ]);
    expect(route.stops.map((s) => s.label)).toEqual(['', '1↑', '1↓', '2↑', '2↓']);
  });

  it('is no line for a vehicle with nothing on the day', () => {
    const route = routeOf(vehicle, [], trips, 'wgs84');
    expect(route.line).toBeNull();
    expect(route.trips).toEqual([]);
  });

  it('skips trips whose places are not loaded, and starts at the first pickup without a home', () => {
    const route = routeOf(
      { id: 7, home_lat: null, home_lon: null },
      [held(1, 7, 1, '2030-03-12T09:00:00+08:00'), held(9, 7, 99, '2030-03-12T10:00:00+08:00')],
      trips,
      'wgs84',
    );
    expect(route.trips).toEqual([1]);
    expect(route.line?.geometry.coordinates).toEqual([
      [114.31, 30.6],
      [114.35, 30.64],
    ]);
  });
});

describe('depots and framing', () => {
  it('are one depot per agency and place with its vehicles, in display coordinates', () => {
    const base = { model: '', category: 'general', powertrain: 'ice', seats: 5, status: 'active', drivers: [] };
    const depots = depotsOf(
      [
        { ...base, id: 1, plate: 'A', agency: 'WH-GA', home_lat: HOME.lat, home_lon: HOME.lon },
        { ...base, id: 2, plate: 'B', agency: 'WH-GA', home_lat: HOME.lat, home_lon: HOME.lon },
        { ...base, id: 3, plate: 'C', agency: 'WH-CG', home_lat: null, home_lon: null },
      ],
      'gcj02',
    );
    expect(depots).toHaveLength(1);
    expect(depots[0]).toMatchObject({ agency: 'WH-GA', vehicles: 2, at: wgs84ToGcj02([HOME.lon, HOME.lat]) });
  });

  it('frames the points it is given', () => {
    expect(
      extentOf([
        [114.3, 30.6],
        [114.1, 30.7],
        [114.2, 30.5],
      ]),
    ).toEqual([
      [114.1, 30.5],
      [114.3, 30.7],
    ]);
    expect(extentOf([])).toBeNull();
  });
});

function fix(id: number, lon: number, lat: number, extra: Partial<LivePosition> = {}): LivePosition {
  return {
    vehicle_id: id,
    plate: `鄂A0000${id}`,
    category: 'law_enforcement',
    agency: 'WH-GA',
    status: 'active',
    lat,
    lon,
    speed_kmh: 40,
    course: 90,
    acc: true,
    alarm: 0,
    source: 'jt808',
    fixed_at: '2030-03-12T09:00:00+08:00',
    received_at: '2030-03-12T09:00:01+08:00',
    age_s: 3,
    online: true,
    ...extra,
  };
}

describe('the live map', () => {
  it("shows each vehicle at its newest fix, shifted to the base map's datum", () => {
    const [plain] = liveVehiclesOf([fix(1, 114.31, 30.6)], 'wgs84');
    expect(plain).toMatchObject({ id: 1, plate: '鄂A00001', at: [114.31, 30.6], course: 90, moving: true });
    const [shifted] = liveVehiclesOf([fix(1, 114.31, 30.6)], 'gcj02');
    expect(shifted?.at).toEqual(wgs84ToGcj02([114.31, 30.6]));
  });

  it('tells moving, parked and offline vehicles apart, and counts those online', () => {
    const vehicles = liveVehiclesOf(
      [
        fix(1, 114.31, 30.6),
        fix(2, 114.32, 30.6, { speed_kmh: 0 }),
        fix(3, 114.33, 30.6, { online: false, speed_kmh: 50 }), // its last fix said it moved: it is not known now
      ],
      null,
    );
    expect(vehicles.map((v) => v.moving)).toEqual([true, false, false]);
    expect(vehicles.map(liveColour)).toEqual(['#389e0d', '#1677ff', '#8c8c8c']);
    expect(onlineCount(vehicles)).toEqual({ online: 2, offline: 1 });
    expect(onlineCount([])).toEqual({ online: 0, offline: 0 });
  });
});

describe("a trip's track", () => {
  const collection: TripTrack = {
    type: 'FeatureCollection',
    features: [
      {
        type: 'Feature',
        geometry: {
          type: 'MultiLineString',
          coordinates: [
            [
              [114.31, 30.6],
              [114.32, 30.61],
            ],
            [
              [114.34, 30.63],
              [114.35, 30.64],
            ],
          ],
        },
        properties: {
          role: 'track',
          vehicle_id: 7,
          plate: '鄂A00007',
          trip_id: 1,
          start: '2030-03-12T09:00:00+08:00',
          end: '2030-03-12T10:00:00+08:00',
          first_fix: '2030-03-12T09:00:00+08:00',
          last_fix: '2030-03-12T09:50:00+08:00',
          fixes: 40,
          points: 4,
          parts: 2,
          km: 6.25,
          gap_minutes: 10,
          simplified: true,
          tolerance_m: 5,
          coordTimes: null,
        },
      },
      {
        type: 'Feature',
        geometry: {
          type: 'LineString',
          coordinates: [
            [114.3055, 30.5928],
            [114.31, 30.6],
            [114.35, 30.64],
          ],
        },
        properties: {
          role: 'planned',
          trip_id: 1,
          planned_km: 5.5,
          stops: [
            { kind: 'home', address: null },
            { kind: 'pickup', address: 'a' },
            { kind: 'dropoff', address: 'b' },
          ],
        },
      },
    ],
  };

  it('becomes two layers, the track as driven (parts kept apart) and the planned route, with its figures', () => {
    const drawn = drawnTrackOf(collection, 'wgs84');
    expect(drawn.track.features).toHaveLength(1);
    expect(drawn.track.features[0]?.geometry).toEqual(collection.features[0]?.geometry);
    expect(drawn.planned.features[0]?.geometry.coordinates).toEqual([
      [114.3055, 30.5928],
      [114.31, 30.6],
      [114.35, 30.64],
    ]);
    expect(drawn.points).toHaveLength(7);
    expect(drawn.trackPoints).toBe(4);
    expect(extentOf(drawn.points)).toEqual([
      [114.3055, 30.5928],
      [114.35, 30.64],
    ]);
    expect([drawn.fixes, drawn.km, drawn.plannedKm, drawn.simplified]).toEqual([40, 6.25, 5.5, true]);
  });

  it('is shifted to GCJ-02 with the rest of the map', () => {
    const drawn = drawnTrackOf(collection, 'gcj02');
    const geometry = drawn.track.features[0]?.geometry;
    expect(geometry?.type).toBe('MultiLineString');
    expect(geometry?.coordinates[1]?.[0]).toEqual(wgs84ToGcj02([114.34, 30.63]));
    expect(drawn.planned.features[0]?.geometry.coordinates[0]).toEqual(wgs84ToGcj02([114.3055, 30.5928]));
  });

  it('is only the plan while no vehicle holds the trip, and no fix is no line', () => {
    const plannedOnly: TripTrack = { type: 'FeatureCollection', features: [collection.features[1]!] };
    const drawn = drawnTrackOf(plannedOnly, null);
    expect(drawn.track.features).toEqual([]);
    expect(drawn.fixes).toBe(0);
    const noFix = collection.features[0] as TrackFeature;
    const empty = drawnTrackOf(
      { type: 'FeatureCollection', features: [{ ...noFix, geometry: null, properties: { ...noFix.properties, fixes: 0 } }] },
      null,
    );
    expect(empty.track.features).toEqual([]);
    expect(empty.planned.features).toEqual([]);
  });

  it("is offered for the day's trips a vehicle holds", () => {
    const assigned = {
      ...trip(1, [114.31, 30.6], [114.35, 30.64]),
      assignment: {
        id: 1,
        vehicle_id: 7,
        plate: '鄂A00007',
        driver_id: null,
        driver: null,
        starts_at: '2030-03-12T09:00:00+08:00',
        ends_at: '2030-03-12T10:00:00+08:00',
        source: 'manual',
        run_id: null,
      },
    };
    const cancelled = { ...assigned, id: 3, status: 'cancelled' };
    expect(trackableTrips([assigned, trip(2, [114.2, 30.5], [114.1, 30.4], 'approved'), cancelled]).map((t) => t.id))
      .toEqual([1]);
  });
});
