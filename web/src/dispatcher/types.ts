/** The bodies the dispatcher's pages read and send (docs/console-api.md; api/schemas.py). */
import type { Trip, Vehicle } from '../api';

/** `GET /board`: a vehicle with the names of those driving it that day. */
export interface BoardVehicle extends Vehicle {
  drivers: string[];
}

export type CalendarKind = 'assignment' | 'sealed' | 'workshop';

/** One thing held on a vehicle's calendar: an assignment (`a57`), a sealed (`s3`) or workshop (`w9`) period. */
export interface CalendarItem {
  id: string;
  vehicle_id: number;
  kind: CalendarKind;
  start: string;
  end: string;
  trip_id?: number | null;
  priority?: string | null;
  status?: string | null;
  purpose?: string | null;
  driver?: string | null;
  agency?: string | null;
}

export interface Board {
  day: string;
  start: string;
  end: string;
  vehicles: BoardVehicle[];
  items: CalendarItem[];
  queue: Trip[];
}

export interface UnservedTrip {
  trip_id: number;
  priority: string;
  reason: string;
}

/** `POST /dispatch`'s answer, and a finished run's `summary`. */
export interface DispatchSummary {
  run_id?: number;
  trips: number;
  vehicles_available: number;
  served: Record<string, number>;
  offered: Record<string, number>;
  unserved: UnservedTrip[];
  refused_at_commit: { trip_id: number; reason: string }[];
  deadhead_km: number;
  total_km: number;
  vehicles_used: number;
  routes_without_driver: number;
  bounds: { served_upper?: Record<string, number>; deadhead_lower_km?: number; method?: string };
  gap: Record<string, number>;
  status: string;
  stopped_by: string;
  stopped_by_text?: string | null; // stopped_by in the reader's language
  solve_seconds: number;
  build_seconds: number;
}

export interface DispatchRequest {
  start: string;
  end: string;
  time_limit: number;
  seed: number;
}

export interface DispatchRun {
  id: number;
  status: 'running' | 'done' | 'failed' | string;
  actor: string;
  window_start: string;
  window_end: string;
  started_at: string;
  finished_at: string | null;
  time_limit: number;
  summary: DispatchSummary | null;
  /** Why a failed run failed. */
  error?: string | null;
}

export interface Moved {
  trip_id: number;
  plate: string;
  before: string;
  after: string;
}

/** Where an emergency booked by a dispatcher went (api/schemas.py UrgentOut). */
export interface Urgent {
  vehicle: string | null;
  reason: string | null;
  displaced: number[];
  replaced: Record<string, string>;
  unplaced: number[];
  moved: Moved[];
  milliseconds: number;
}

export interface Booking extends Trip {
  urgent?: Urgent | null;
}

/** `POST /trips` as the dispatcher sends it (fleet/schemas.py TripIn). */
export interface TripIn {
  purpose: string;
  priority: string;
  passengers: number;
  pickup: { lat: number; lon: number; address: string };
  dropoff: { lat: number; lon: number; address: string };
  earliest_pickup: string;
  latest_pickup: string;
  dwell_min: number;
  categories?: string[];
  agency: string;
  priority_reason?: string;
  approval_basis?: string;
}

/** A deployment's base map (`GET /console/config`) and a known place (`GET /places`), as the shared client has them. */
export type { ConsoleConfig, KnownPlace as PlaceHit, MapConfig } from '../api';

/** `GET /positions/latest`: a vehicle's newest fix (WGS-84) and how fresh it is (api/schemas.py LivePositionOut). */
export interface LivePosition {
  vehicle_id: number;
  plate: string;
  category: string;
  agency: string;
  status: string;
  lat: number;
  lon: number;
  speed_kmh: number;
  /** Degrees clockwise from north; null when the terminal does not say. */
  course: number | null;
  acc: boolean | null;
  alarm: number;
  source: string;
  fixed_at: string;
  received_at: string;
  age_s: number;
  online: boolean;
}

export interface LatestPositions {
  at: string;
  online_within_s: number;
  items: LivePosition[];
}

type LngLatPair = [number, number];

export type TrackGeometry =
  | { type: 'LineString'; coordinates: LngLatPair[] }
  | { type: 'MultiLineString'; coordinates: LngLatPair[][] };

/** The track Feature of `GET /trips/{id}/track` and `GET /vehicles/{id}/track` (GeoJSON; [lon, lat] in WGS-84). */
export interface TrackFeature {
  type: 'Feature';
  geometry: TrackGeometry | null;
  properties: {
    role: 'track';
    vehicle_id: number;
    plate: string;
    trip_id?: number | null;
    start: string;
    end: string;
    first_fix: string | null;
    last_fix: string | null;
    fixes: number;
    points: number;
    parts: number;
    km: number;
    gap_minutes: number;
    simplified: boolean;
    tolerance_m: number | null;
    coordTimes: string[] | string[][] | null;
  };
}

/** The planned route of a trip: the vehicle's home → pickup → drop-off, straight legs. */
export interface PlannedFeature {
  type: 'Feature';
  geometry: { type: 'LineString'; coordinates: LngLatPair[] };
  properties: {
    role: 'planned';
    trip_id: number;
    planned_km: number;
    stops: { kind: 'home' | 'pickup' | 'dropoff'; address: string | null }[];
  };
}

/** `GET /trips/{id}/track`: its track (absent while no vehicle holds it) beside its planned route. */
export interface TripTrack {
  type: 'FeatureCollection';
  features: (TrackFeature | PlannedFeature)[];
}
