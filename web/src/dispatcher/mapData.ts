/**
 * The map of the day, pure: the depots, the pickups and drop-offs of the day's trips, and one vehicle's route, as
 * GeoJSON in the base map's datum (WGS-84 from the API, shifted to GCJ-02 for display when the tiles are).
 */
import type { Trip } from '../api';
import { yardsOf, type Yard } from '../mapStyle';
import { displayTransform, type LngLat } from './gcj02';
import type { BoardVehicle, CalendarItem } from './types';

type Position = [number, number];
type Transform = (point: LngLat) => Position;

export interface PointFeature<P> {
  type: 'Feature';
  geometry: { type: 'Point'; coordinates: Position };
  properties: P;
}

export interface LineFeature<P> {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: Position[] };
  properties: P;
}

export interface Collection<F> {
  type: 'FeatureCollection';
  features: F[];
}

export interface StopProperties {
  trip: number;
  kind: 'pickup' | 'dropoff';
  priority: string;
  address: string;
  assigned: boolean;
}

/** Trips that are not going to happen, or not with the fleet (rented: 定点租赁), do not belong on the day's map. */
const GONE = new Set(['cancelled', 'rejected', 'rented']);

export function liveTrips(trips: readonly Trip[]): Trip[] {
  return trips.filter((t) => !GONE.has(t.status));
}

/** Every pickup and drop-off of the day's trips, each a point. */
export function stopsOf(
  trips: readonly Trip[],
  crs: string | null | undefined,
): Collection<PointFeature<StopProperties>> {
  const shift: Transform = displayTransform(crs);
  const features: PointFeature<StopProperties>[] = [];
  for (const trip of liveTrips(trips)) {
    for (const kind of ['pickup', 'dropoff'] as const) {
      const place = trip[kind];
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: shift([place.lon, place.lat]) },
        properties: {
          trip: trip.id,
          kind,
          priority: trip.priority,
          address: place.address,
          assigned: trip.assignment !== null,
        },
      });
    }
  }
  return { type: 'FeatureCollection', features };
}

/** The depots (vehicle homes): one per agency and place, with its vehicle count, in display coordinates. */
export function depotsOf(
  vehicles: readonly BoardVehicle[],
  crs: string | null | undefined,
): (Yard & { at: Position })[] {
  const shift: Transform = displayTransform(crs);
  return yardsOf([...vehicles]).yards.map((yard) => ({ ...yard, at: shift([yard.lon, yard.lat]) }));
}

export interface RouteStop {
  trip: number;
  kind: 'home' | 'pickup' | 'dropoff';
  at: Position;
  label: string;
}

export interface Route {
  vehicle: number;
  line: LineFeature<{ vehicle: number }> | null;
  stops: RouteStop[];
  trips: number[];
}

/**
 * A vehicle's day as a line: home → first pickup → its drop-off → next pickup → … → home, its assignments taken in
 * the order they hold the vehicle. Trips whose places are not known (not loaded) are skipped, and said so by
 * `trips` holding only those drawn.
 */
export function routeOf(
  vehicle: Pick<BoardVehicle, 'id' | 'home_lat' | 'home_lon'>,
  items: readonly CalendarItem[],
  tripsById: ReadonlyMap<number, Trip>,
  crs: string | null | undefined,
): Route {
  const shift: Transform = displayTransform(crs);
  const held = items
    .filter((i) => i.vehicle_id === vehicle.id && i.kind === 'assignment' && i.trip_id != null)
    .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const stops: RouteStop[] = [];
  const home: Position | null =
    vehicle.home_lat !== null && vehicle.home_lon !== null ? shift([vehicle.home_lon, vehicle.home_lat]) : null;
  if (home) stops.push({ trip: 0, kind: 'home', at: home, label: '' });
  const drawn: number[] = [];
  for (const item of held) {
    const trip = tripsById.get(item.trip_id as number);
    if (!trip) continue;
    drawn.push(trip.id);
    const n = drawn.length;
    stops.push({ trip: trip.id, kind: 'pickup', at: shift([trip.pickup.lon, trip.pickup.lat]), label: `${n}↑` });
    stops.push({ trip: trip.id, kind: 'dropoff', at: shift([trip.dropoff.lon, trip.dropoff.lat]), label: `${n}↓` });
  }
  const path = stops.map((s) => s.at);
  if (home && drawn.length > 0) path.push(home);
  const line: LineFeature<{ vehicle: number }> | null =
    path.length >= 2
      ? { type: 'Feature', geometry: { type: 'LineString', coordinates: path }, properties: { vehicle: vehicle.id } }
      : null;
  return { vehicle: vehicle.id, line, stops, trips: drawn };
}

/** [[west, south], [east, north]] around points, or null when there are none. */
export function extentOf(points: readonly Position[]): [Position, Position] | null {
  if (points.length === 0) return null;
  let west = Infinity;
  let south = Infinity;
  let east = -Infinity;
  let north = -Infinity;
  for (const [lon, lat] of points) {
    west = Math.min(west, lon);
    east = Math.max(east, lon);
    south = Math.min(south, lat);
    north = Math.max(north, lat);
  }
  return [
    [west, south],
    [east, north],
  ];
}
