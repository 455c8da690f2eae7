/**
 * The supervisor's findings page, pure: the view the address names (period, kinds, agency, page), the API's query
 * for it, the window of a vehicle's track that shows a finding, and a finding's evidence as labelled lines and as
 * points for the map. No React, no i18next: the page hands in its words.
 */
import { ApiError, getJson, queryString } from './api';
import type { TripTrack } from './dispatcher/types';
import { DEFAULT_SIZE, isCode, pageOf, sizeOf } from './paging';
import { isDay } from './dispatcher/board';
import { addDays, chinaInstant, chinaTime, chinaToday, formatChinaDateTime } from './time';
import { humanize, type VocabularyName } from './vocabulary';

/** `GET /violations`' item (api/schemas.py FindingOut). `evidence` differs by kind (fleet/usage_audit). */
export interface Finding {
  kind: string;
  detail: string;
  at: string | null;
  agency: string | null;
  plate: string | null;
  vehicle_id: number | null;
  trip_id: number | null;
  evidence: Record<string, unknown>;
}

// --- the view in the address ---------------------------------------------------------------------------------------

/** How many days the page looks back by default: a week of leads, today included. The server audits the whole
 * period on every read (every vehicle's fixes over it), so the default is kept to what a supervisor reads at once. */
export const DEFAULT_DAYS = 7;


export interface FindingsView {
  since: string; // a China-time date, inclusive
  until: string; // a China-time date, inclusive
  kinds: string[];
  agency: string | null;
  page: number; // from 1
  size: number;
}

/** The default period: the last `DEFAULT_DAYS` days up to `today` (China time). */
export function defaultPeriod(today: string): { since: string; until: string } {
  return { since: addDays(today, -(DEFAULT_DAYS - 1)), until: today };
}

/**
 * The view an address asks for (`?since=2030-06-01&until=2030-06-30&kind=detour&kind=parking&agency=WH-GA&page=2`).
 * A period that is not two dates in order is the default one: a link typed wrong still opens a page, and a period
 * too long is left for the server to refuse, with its sentence, under the period field.
 */
export function viewOf(params: URLSearchParams, today: string = chinaToday()): FindingsView {
  const since = params.get('since');
  const until = params.get('until');
  const period = isDay(since) && isDay(until) && since <= until ? { since, until } : defaultPeriod(today);
  const kinds = [...new Set(params.getAll('kind').filter(isCode))];
  const agency = params.get('agency')?.trim() || null;
  return { ...period, kinds, agency, page: pageOf(params), size: sizeOf(params) };
}

/**
 * The address's query for `changes` to the view: the period is always written out (the default moves with the
 * day: a link sent on is to open the same period), the rest only when not the default. Any change but paging goes
 * back to the first page.
 */
export function searchOf(view: FindingsView, changes: Partial<FindingsView> = {}): string {
  const paging = 'page' in changes || 'size' in changes;
  const next = { ...view, ...changes, ...(paging ? {} : { page: 1 }) };
  return queryString({
    since: next.since,
    until: next.until,
    kind: next.kinds,
    agency: next.agency,
    page: next.page > 1 ? next.page : undefined,
    size: next.size !== DEFAULT_SIZE ? next.size : undefined,
  }).replace(/^\?/, '');
}

/**
 * A finding's identity across reads of the list: the list is read again (a refresh, the language switched, the live
 * feed caught up) and the audit recomputed, so a finding's place in it may change; its sentence changes with the
 * language.
 */
export function findingKey(finding: Finding): string {
  return [finding.kind, finding.vehicle_id, finding.trip_id, finding.at, finding.agency, finding.plate].join('|');
}

/** `GET /violations`' path for the view: its page of `size` from `(page - 1) * size`. */
export function findingsPath(view: FindingsView): string {
  return `/violations${queryString({
    since: view.since,
    until: view.until,
    kind: view.kinds,
    agency: view.agency,
    limit: view.size,
    offset: (view.page - 1) * view.size,
  })}`;
}

// --- the track's window --------------------------------------------------------------------------------------------

/** Track shown either side of what the evidence times: the approach and what came after. */
export const MARGIN_MINUTES = 15;
/** Either side of a finding timed by one moment only (a booking's time, a trip's start). */
export const AROUND_MINUTES = 60;
/** The longest window the track API serves (fleet/track_queries.py MAX_SPAN). */
export const MAX_WINDOW_DAYS = 31;

// The evidence's own beginning and end, by the names the rules give them (fleet/usage_audit), most telling first.
const BEGINS = ['start', 'entered', 'started_at', 'previous_completed_at', 'time'] as const;
const ENDS = ['end', 'left', 'completed_at', 'next_started_at'] as const;

function instantOf(value: unknown): number | null {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return null;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : at;
}

function numberOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

const MINUTE = 60_000;

/** An instant as the API takes it, in China time with its offset (`2030-06-11T19:45:00+08:00`). */
export function chinaIso(ms: number): string {
  const at = new Date(Math.floor(ms / 1000) * 1000);
  const { date, time } = chinaTime(at);
  const seconds = String(at.getUTCSeconds()).padStart(2, '0');
  return chinaInstant(date, time).replace(/:00\+08:00$/, `:${seconds}+08:00`);
}

/**
 * The window of the vehicle's track that shows a finding: the evidence's own start and end (a drive, a stay in an
 * area, a silence, a trip) with `MARGIN_MINUTES` either side; a span the evidence gives as a length from its start
 * (speeding's seconds, an alarm's minutes); else `AROUND_MINUTES` either side of the finding's time. None for a
 * finding about no vehicle or no time (over quota, unmarked: the registry's, not the road's).
 */
export function trackWindow(finding: Pick<Finding, 'at' | 'vehicle_id' | 'evidence'>): { start: string; end: string } | null {
  if (finding.vehicle_id === null) return null;
  const evidence = finding.evidence;
  let begin: number | null = null;
  for (const key of BEGINS) {
    begin = instantOf(evidence[key]);
    if (begin !== null) break;
  }
  let end: number | null = null;
  for (const key of ENDS) {
    end = instantOf(evidence[key]);
    if (end !== null) break;
  }
  if (begin !== null && end === null) {
    const seconds = numberOf(evidence.seconds) ?? (numberOf(evidence.minutes) ?? 0) * 60;
    if (seconds > 0) end = begin + seconds * 1000;
  }
  const at = instantOf(finding.at);
  let from: number;
  let to: number;
  if (begin !== null && end !== null && end >= begin) {
    from = begin - MARGIN_MINUTES * MINUTE;
    to = end + MARGIN_MINUTES * MINUTE;
  } else {
    const moment = begin ?? at;
    if (moment === null) return null;
    from = moment - AROUND_MINUTES * MINUTE;
    to = moment + AROUND_MINUTES * MINUTE;
  }
  // An odometer gap may span weeks between two trips: the first month of it, as the API would refuse more.
  to = Math.min(to, from + MAX_WINDOW_DAYS * 24 * 60 * MINUTE);
  return { start: chinaIso(from), end: chinaIso(to) };
}

/** The track a finding's map draws, and where it came from. */
export interface FindingTrack {
  track: TripTrack;
  /** `vehicle`: the vehicle's fixes over the window; `trip`: only while it served the finding's trip. */
  source: 'vehicle' | 'trip';
}

/**
 * The finding's track: the vehicle's over the window (`GET /vehicles/{id}/track`); where the vehicle is outside the
 * caller's scope (another agency's car served the scope's trip, as pooled dispatch often has it, or the car was
 * transferred since), which the API answers as an unknown vehicle, the trip's own track beside its planned route
 * (`GET /trips/{id}/track`): a trip of the scope's is the supervisor's to read, whichever car drove it.
 */
export async function findingTrack(
  vehicleId: number,
  tripId: number | null,
  window: { start: string; end: string },
  signal?: AbortSignal,
  get: <T>(path: string, signal?: AbortSignal) => Promise<T> = getJson,
): Promise<FindingTrack> {
  try {
    return { track: await get<TripTrack>(`/vehicles/${vehicleId}/track${queryString(window)}`, signal), source: 'vehicle' };
  } catch (error) {
    if (tripId === null || !(error instanceof ApiError) || error.status !== 404) throw error;
    const track = await get<TripTrack>(`/trips/${tripId}/track`, signal);
    // The trip's track is its current (or last) car's: a trip handed to another car since is not this car's drive.
    const driven = track.features.filter((feature) => feature.properties.role === 'track');
    if (driven.some((feature) => 'vehicle_id' in feature.properties && feature.properties.vehicle_id !== vehicleId)) throw error;
    return { track, source: 'trip' };
  }
}

// --- the evidence, readable ----------------------------------------------------------------------------------------

/** A place the evidence names: `{lat, lon}`, with an address, a fix's time or speed where it has them. */
export interface EvidencePlace {
  lat: number;
  lon: number;
  address?: string | null;
  at?: string;
  speed_kmh?: number;
}

export function isPlace(value: unknown): value is EvidencePlace {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { lat, lon } = value as Record<string, unknown>;
  return numberOf(lat) !== null && numberOf(lon) !== null;
}

/** The units the evidence's numbers are in, read from their names (`km`, `corridor_m`, `seconds_inside`…). */
export type Unit = 'km' | 'm' | 'min' | 's' | 'kmh' | 'times';

export function unitOf(key: string): Unit | null {
  if (key === 'ratio' || key.endsWith('_ratio')) return 'times';
  if (key.endsWith('_kmh')) return 'kmh';
  if (key === 'km' || key.endsWith('_km')) return 'km';
  if (key.endsWith('_m')) return 'm';
  if (key === 'minutes' || key.endsWith('_minutes')) return 'min';
  if (key === 'seconds' || key.endsWith('_seconds') || key.startsWith('seconds_')) return 's';
  return null;
}

/** The vocabulary (`GET /vocabulary`) an evidence code is labelled from, by its name. */
const VOCABULARY_OF: Record<string, VocabularyName> = {
  geofence_kind: 'geofence_kind',
  priority: 'priority',
  status: 'trip_status',
  trip_status: 'trip_status',
  vehicle_status: 'vehicle_status',
  category: 'category',
  marking: 'marking_status',
};
/** The kinds whose evidence's `status` (and `statuses`) is the vehicle's, not its trip's (fleet/usage_audit/checks). */
const VEHICLE_STATUS_KINDS = new Set(['unusable_vehicle', 'unmarked', 'over_quota']);

export function vocabularyOf(kind: string | null, key: string): VocabularyName | undefined {
  if ((key === 'status' || key === 'statuses') && kind !== null) {
    return VEHICLE_STATUS_KINDS.has(kind) ? 'vehicle_status' : 'trip_status';
  }
  return VOCABULARY_OF[key];
}

/** What the page says in its language: labels of the evidence's names and codes, units, yes and no. */
export interface EvidenceWords {
  /** The label of an evidence name (`entered` -> 驶入时间), or null when the page has none. */
  label: (key: string) => string | null;
  /** A code's label (`source` `track` -> 车载终端轨迹; `geofence_kind` from the vocabulary), or null. */
  code: (key: string, value: string) => string | null;
  /** `8.66` in `unit`: `8.66 公里`, `8.66 km`. */
  unit: (unit: Unit, value: string) => string;
  yes: string;
  no: string;
  /** A track excerpt's size: `12 个定位点`. */
  points: (count: number) => string;
}

export interface EvidenceLine {
  key: string;
  label: string;
  text: string;
}

// Said by the finding's own facts above the evidence (plate, vehicle), or drawn on the map (the excerpt's points
// are counted, not listed).
const SHOWN_ELSEWHERE = new Set(['vehicle_id', 'plate']);

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

function coordinates(place: EvidencePlace): string {
  return `${place.lat.toFixed(5)}, ${place.lon.toFixed(5)}`;
}

/** A place as one line: its address or the fix's time first, then where, then the fix's speed. */
export function placeText(place: EvidencePlace, say: EvidenceWords, extra: Record<string, unknown> = {}): string {
  const parts: string[] = [];
  if (place.address) parts.push(place.address);
  if (typeof place.at === 'string' && instantOf(place.at) !== null) parts.push(formatChinaDateTime(place.at));
  parts.push(coordinates(place));
  if (numberOf(place.speed_kmh) !== null) parts.push(say.unit('kmh', formatNumber(place.speed_kmh as number)));
  for (const [key, value] of Object.entries(extra)) {
    if (['lat', 'lon', 'address', 'at', 'speed_kmh'].includes(key)) continue;
    parts.push(`${say.label(key) ?? humanize(key)} ${valueText(key, value, say)}`);
  }
  return parts.join(' · ');
}

/** One evidence value as text, by its name and its shape. */
export function valueText(key: string, value: unknown, say: EvidenceWords): string {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'boolean') return value ? say.yes : say.no;
  if (typeof value === 'number') {
    const unit = unitOf(key);
    return unit === null ? formatNumber(value) : say.unit(unit, formatNumber(value));
  }
  if (typeof value === 'string') {
    if (instantOf(value) !== null) return formatChinaDateTime(value);
    return say.code(key, value) ?? value;
  }
  if (Array.isArray(value)) {
    if (key === 'track') return say.points(value.length);
    if (value.every(isPlace)) return value.map((place) => placeText(place, say)).join(' → ');
    return value.map((item) => valueText(key, item, say)).join(', ');
  }
  if (isPlace(value)) return placeText(value, say, value as unknown as Record<string, unknown>);
  // A small mapping (off_hours' day_off by start and end, over_quota's statuses by plate): its pairs on one line. A
  // code under a name of no meaning of its own (a plate) is read as the mapping's (`statuses`: a vehicle status).
  return Object.entries(value as Record<string, unknown>)
    .map(([name, item]) => {
      const owner = typeof item === 'string' && say.code(name, item) === null ? key : name;
      return `${say.label(name) ?? name}: ${valueText(owner, item, say)}`;
    })
    .join('; ');
}

/** A finding's evidence as labelled lines, in the order the rule wrote it, bar what the facts above already say. */
export function evidenceLines(evidence: Record<string, unknown>, say: EvidenceWords): EvidenceLine[] {
  return Object.entries(evidence)
    .filter(([key]) => !SHOWN_ELSEWHERE.has(key))
    .map(([key, value]) => ({ key, label: say.label(key) ?? humanize(key), text: valueText(key, value, say) }));
}

// --- the evidence on the map ---------------------------------------------------------------------------------------

/** A point the evidence names, for the map: which one (its evidence name) and where, in WGS-84. */
export interface EvidencePoint {
  key: string;
  lon: number;
  lat: number;
  at: string | null;
}

// Route stops are points too (detour: home, pickup, drop-off), named by their place in the route.
const ROUTE_STOPS = ['route_home', 'route_pickup', 'route_dropoff'] as const;

/**
 * Every place the evidence names (where a drive began and ended, where the vehicle stopped inside an area, the
 * farthest it strayed, its designated parking place, a geofence's centre, the booked pickup and drop-off…), in the
 * evidence's order. A detour's booked route is given as its stops.
 */
export function evidencePoints(evidence: Record<string, unknown>): EvidencePoint[] {
  const points: EvidencePoint[] = [];
  for (const [key, value] of Object.entries(evidence)) {
    if (isPlace(value)) {
      points.push({ key, lon: value.lon, lat: value.lat, at: typeof value.at === 'string' ? value.at : null });
    } else if (key === 'route' && Array.isArray(value)) {
      const stops = value.filter(isPlace);
      // home -> pickup -> drop-off, or pickup -> drop-off when the vehicle has no yard on record
      const names = stops.length === 3 ? ROUTE_STOPS : ROUTE_STOPS.slice(1);
      stops.forEach((stop, index) => {
        points.push({ key: names[index] ?? 'route', lon: stop.lon, lat: stop.lat, at: null });
      });
    }
  }
  return points;
}

/** A detour's booked route (straight legs between its stops) as [lon, lat] pairs, or null for any other finding. */
export function bookedRoute(evidence: Record<string, unknown>): [number, number][] | null {
  const route = evidence.route;
  if (!Array.isArray(route)) return null;
  const stops = route.filter(isPlace);
  return stops.length >= 2 ? stops.map((stop) => [stop.lon, stop.lat]) : null;
}
