/**
 * The map of the day, pure: the depots, the pickups and drop-offs of the day's trips, and one vehicle's route, as
 * GeoJSON in the base map's datum (WGS-84 from the API, shifted to GCJ-02 for display when the tiles are).
 */
import type { Trip } from '../api';
import { yardsOf, type Yard } from '../mapStyle';
import { displayTransform, type LngLat } from './gcj02';
import type { BoardVehicle, CalendarItem, LivePosition, PlannedFeature, TrackFeature, TripTrack } from './types';

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

// --- where the vehicles are, and where a trip went ---------------------------------------------------------------

/** A vehicle on the live map: its newest fix in display coordinates, and what its marker shows. */
export interface LiveVehicle {
  id: number;
  plate: string;
  agency: string;
  category: string;
  at: Position;
  /** Degrees clockwise from north, or null: the marker then shows a dot instead of an arrow. */
  course: number | null;
  speedKmh: number;
  online: boolean;
  moving: boolean;
  fixedAt: string;
}

/** Below this speed a vehicle is parked, whatever its course says (a fix's course at rest is noise). */
export const MOVING_KMH = 3;

/** The live map's vehicles from `GET /positions/latest`, in the base map's datum. */
export function liveVehiclesOf(items: readonly LivePosition[], crs: string | null | undefined): LiveVehicle[] {
  const shift: Transform = displayTransform(crs);
  return items.map((p) => ({
    id: p.vehicle_id,
    plate: p.plate,
    agency: p.agency,
    category: p.category,
    at: shift([p.lon, p.lat]),
    course: p.course,
    speedKmh: p.speed_kmh,
    online: p.online,
    moving: p.online && p.speed_kmh >= MOVING_KMH,
    fixedAt: p.fixed_at,
  }));
}

/** How many of the live map's vehicles are online. */
export function onlineCount(vehicles: readonly Pick<LiveVehicle, 'online'>[]): { online: number; offline: number } {
  const online = vehicles.filter((v) => v.online).length;
  return { online, offline: vehicles.length - online };
}

/** The colour of a vehicle's marker: moving, online and parked, or offline (no fix for a while). */
export function liveColour(vehicle: Pick<LiveVehicle, 'online' | 'moving'>): string {
  if (!vehicle.online) return '#8c8c8c';
  return vehicle.moving ? '#389e0d' : '#1677ff';
}

/** The trips whose track can be drawn: those a vehicle holds or held (assigned, under way or done). */
export function trackableTrips(trips: readonly Trip[]): Trip[] {
  return liveTrips(trips).filter((t) => t.assignment !== null);
}

export interface TrackLineFeature {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: Position[] } | { type: 'MultiLineString'; coordinates: Position[][] };
  properties: { role: 'track' | 'planned' };
}

export interface DrawnTrack {
  /** The track as driven (empty while the trip has no vehicle or no fix). */
  track: Collection<TrackLineFeature>;
  /** The planned route: home → pickup → drop-off. */
  planned: Collection<TrackLineFeature>;
  /** Every drawn position, for framing. */
  points: Position[];
  /** Positions of the track as drawn (fewer than its fixes when the API simplified it). */
  trackPoints: number;
  fixes: number;
  km: number;
  plannedKm: number | null;
  simplified: boolean;
}

function isTrack(feature: TrackFeature | PlannedFeature): feature is TrackFeature {
  return feature.properties.role === 'track';
}

/** A trip's track and planned route (`GET /trips/{id}/track`) as two line layers' data, in display coordinates. */
export function drawnTrackOf(collection: TripTrack, crs: string | null | undefined): DrawnTrack {
  const shift: Transform = displayTransform(crs);
  const points: Position[] = [];
  const shiftAll = (line: readonly (readonly [number, number])[]): Position[] =>
    line.map((point) => {
      const shifted = shift(point);
      points.push(shifted);
      return shifted;
    });
  const track: TrackLineFeature[] = [];
  const planned: TrackLineFeature[] = [];
  let fixes = 0;
  let km = 0;
  let plannedKm: number | null = null;
  let simplified = false;
  let trackPoints = 0;
  for (const feature of collection.features) {
    if (isTrack(feature)) {
      fixes += feature.properties.fixes;
      km += feature.properties.km;
      simplified ||= feature.properties.simplified;
      const geometry = feature.geometry;
      if (geometry === null) continue;
      trackPoints +=
        geometry.type === 'LineString'
          ? geometry.coordinates.length
          : geometry.coordinates.reduce((sum, part) => sum + part.length, 0);
      track.push({
        type: 'Feature',
        geometry:
          geometry.type === 'LineString'
            ? { type: 'LineString', coordinates: shiftAll(geometry.coordinates) }
            : { type: 'MultiLineString', coordinates: geometry.coordinates.map(shiftAll) },
        properties: { role: 'track' },
      });
    } else {
      plannedKm = feature.properties.planned_km;
      planned.push({
        type: 'Feature',
        geometry: { type: 'LineString', coordinates: shiftAll(feature.geometry.coordinates) },
        properties: { role: 'planned' },
      });
    }
  }
  return {
    track: { type: 'FeatureCollection', features: track },
    planned: { type: 'FeatureCollection', features: planned },
    points,
    trackPoints,
    fixes,
    km,
    plannedKm,
    simplified,
  };
}
