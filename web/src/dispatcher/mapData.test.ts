import { describe, expect, it } from 'vitest';

import type { Trip } from '../api';
import { wgs84ToGcj02 } from './gcj02';
import { depotsOf, extentOf, routeOf, stopsOf } from './mapData';
import type { BoardVehicle, CalendarItem } from './types';

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
