import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';

import { CSRF_HEADER, csrfToken, needsCsrf, sessionExpired, useSession } from './auth';
import i18n, { isLanguage, type Language } from './i18n';
import type { Vocabularies } from './vocabulary';

/** The API's bodies the console reads (api/schemas.py: TripOut, VehicleOut, AgencyOut, …). */
export interface Place {
  lat: number;
  lon: number;
  address: string;
}

export interface Assignment {
  id: number;
  vehicle_id: number;
  plate: string;
  driver_id: number | null;
  driver: string | null;
  starts_at: string;
  ends_at: string;
  source: string;
  run_id: number | null;
}

export interface Trip {
  id: number;
  agency: string;
  purpose: string;
  priority: string;
  categories: string[];
  passengers: number;
  pickup: Place;
  dropoff: Place;
  earliest_pickup: string;
  latest_pickup: string;
  dwell_min: number;
  planned_km: number;
  status: string;
  decision_note: string | null;
  dispatch_note: string | null;
  requested_by: string | null;
  assignment: Assignment | null;
  started_at: string | null;
  completed_at: string | null;
  odometer_start_km?: number | null;
  odometer_end_km?: number | null;
  created_at: string;
  /** The rental provider (定点租赁) serving it instead of the fleet, and its cost (fleet/rentals.py). */
  rental?: { provider: string; cost_cny: string } | null;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Vehicle {
  id: number;
  plate: string;
  model: string;
  agency: string;
  category: string;
  powertrain: string;
  seats: number;
  status: string;
  home_lat: number | null;
  home_lon: number | null;
}

export interface Agency {
  id: number;
  code: string;
  name: string;
}

/** `GET /places`: a known place to pick a pickup or drop-off from. */
export interface KnownPlace {
  name: string;
  lat: number;
  lon: number;
  kind: string; // agency | depot | trip
}

/** `GET /console/config` (no sign-in needed). */
export interface MapConfig {
  tiles: string | null;
  pmtiles: string | null;
  crs: 'wgs84' | 'gcj02';
  attribution: string | null;
  max_zoom: number | null;
  center: [number, number] | null;
  zoom: number | null;
}

export interface ConsoleConfig {
  map: MapConfig;
}

export const API = '/api/v1';
export const MAX_PAGE = 200; // api/schemas.py MAX_PAGE

/** An error answered by the API: `{"error": code, "detail": sentence, "field": name-or-null}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly field: string | null;
  /** Seconds to wait before asking again (429, 503: `Retry-After`), when the server said. */
  readonly retryAfter: number | null;
  /**
   * The language `detail` is in (the answer's `Content-Language`), or null when the answer did not say (not the
   * API's): the console shows the sentence again in another language once the user switches (errors.ts).
   */
  readonly language: Language | null;

  constructor(
    status: number,
    code: string,
    detail: string,
    field: string | null = null,
    retryAfter: number | null = null,
    language: Language | null = null,
  ) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
    this.retryAfter = retryAfter;
    this.language = language;
  }
}

/**
 * A request that got no answer at all: the server is down, or the network is (fetch's TypeError, "Failed to fetch"
 * in Chromium). Its message is for logs; what the user reads is `errors.offline` in the language shown (errors.ts).
 */
export class Unreachable extends Error {
  constructor(cause: unknown) {
    super(i18n.t('errors.offline'), { cause });
    this.name = 'Unreachable';
  }
}

/** The console's language of a `Content-Language` (`zh-CN`, `zh`, `en-GB`…); null for none or another. */
export function contentLanguage(value: string | null): Language | null {
  const primary = value?.trim().toLowerCase().split(/[-_]/)[0];
  if (primary === 'zh') return 'zh-CN';
  if (primary === 'en') return 'en';
  return null;
}

/** `Accept-Language` for the console's language: the API answers its error sentences in it. */
export function acceptLanguage(language: Language): string {
  return language === 'en' ? 'en' : 'zh-CN,zh;q=0.9';
}

/** `Retry-After` in whole seconds (a number of seconds, or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now: Date = new Date()): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** The headers of a call: its language, JSON, and the CSRF token for anything but GET/HEAD. */
export function requestHeaders(
  method: string,
  language: Language,
  csrf: string | null,
  hasBody: boolean,
): Record<string, string> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Accept-Language': acceptLanguage(language) };
  if (hasBody) headers['Content-Type'] = 'application/json';
  if (needsCsrf(method) && csrf !== null) headers[CSRF_HEADER] = csrf;
  return headers;
}

/** A 401 here is an answer about the credentials given, not about the session: it does not sign the page out. */
function judgesCredentials(path: string): boolean {
  return path.startsWith('/auth/login') || path.startsWith('/auth/password');
}

function currentLanguage(): Language {
  return isLanguage(i18n.language) ? i18n.language : 'zh-CN';
}

/** The API's error out of a failed response (or the status line, where the body is not the API's JSON). */
export async function errorOf(response: Response): Promise<ApiError> {
  let code = 'HttpError';
  let detail = response.statusText || String(response.status);
  let field: string | null = null;
  try {
    const body = (await response.json()) as { error?: unknown; detail?: unknown; field?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.detail === 'string') detail = body.detail;
    if (typeof body.field === 'string') field = body.field;
  } catch {
    // not the API's JSON (a proxy's page): keep the status line
  }
  return new ApiError(
    response.status,
    code,
    detail,
    field,
    retryAfterSeconds(response.headers.get('Retry-After')),
    contentLanguage(response.headers.get('Content-Language')),
  );
}

/**
 * One call to the API as the signed-in user: the session cookie goes with it (same origin), the CSRF token with
 * anything that changes something, the console's language always. A 401 signs the page out (the session has ended),
 * except on the sign-in and password calls, where it judges what was typed.
 */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
  extra: Record<string, string> = {},
): Promise<T> {
  const hasBody = body !== undefined;
  let response: Response;
  try {
    response = await fetch(`${API}${path}`, {
      method,
      credentials: 'same-origin',
      headers: { ...requestHeaders(method, currentLanguage(), csrfToken(), hasBody), ...extra },
      ...(hasBody ? { body: JSON.stringify(body) } : {}),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    // fetch rejects with a TypeError when no answer came; an abort (a DOMException) is the caller's own doing.
    if (error instanceof TypeError) throw new Unreachable(error);
    throw error;
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !judgesCredentials(path)) sessionExpired();
    throw error;
  }
  if (response.status === 204 || response.headers.get('Content-Length') === '0') return undefined as T;
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** GET a JSON body as the signed-in user. */
export function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return call<T>('GET', path, undefined, signal);
}

/** POST/PUT/PATCH/DELETE a JSON body (or none) as the signed-in user; the answer's JSON, or undefined for a 204. */
export function sendJson<T = unknown>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  return call<T>(method, path, body, signal);
}

/** Longest wait between two tries of a busy server, whatever its Retry-After says: someone is waiting at the desk. */
export const MAX_RETRY_WAIT_S = 10;

/**
 * Send a request that is safe to send again: every try carries the same Idempotency-Key, so the server answers a
 * repeat with what the first try did (for `POST /trips`, the first booking, and an approved emergency that try left
 * unplaced is placed then). A 503 (busy) is tried again after its Retry-After, up to `attempts` tries; any other
 * answer, success or refusal, is final.
 */
export async function sendRetrying<T>(
  method: string,
  path: string,
  body: unknown,
  key: string,
  { attempts = 3, wait = sleepSeconds }: { attempts?: number; wait?: (seconds: number) => Promise<void> } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call<T>(method, path, body, undefined, { 'Idempotency-Key': key });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 503 || attempt >= attempts) throw error;
      await wait(Math.min(error.retryAfter ?? 1, MAX_RETRY_WAIT_S));
    }
  }
}

function sleepSeconds(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/**
 * The Idempotency-Key of a form's request: the same body sent again (by hand, after a failure) keeps its key and so
 * cannot book twice; a changed body, or any body after `forget`, is a new request and gets a new key. Random bytes by `getRandomValues`, which,
 * unlike `randomUUID`, a console served over plain HTTP inside an agency's network also has.
 */
export class RequestKeys {
  private last: { body: string; key: string } | null = null;

  keyFor(body: unknown): string {
    const text = JSON.stringify(body);
    if (this.last?.body !== text) {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      this.last = { body: text, key: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
    }
    return this.last.key;
  }

  /** After the request went through: the same body again is then a second request, with a key of its own. */
  forget(): void {
    this.last = null;
  }
}

/** `?a=1&b=x&b=y`: a query string of the values given (undefined, null and '' left out; arrays repeated). */
export function queryString(params: Record<string, string | number | boolean | null | undefined | readonly (string | number)[]>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** Every item of a Page list, page by page (each answers at most MAX_PAGE). */
export async function allPages<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  const all: T[] = [];
  const joiner = path.includes('?') ? '&' : '?';
  for (let offset = 0; ; offset += MAX_PAGE) {
    const page = await getJson<Page<T>>(`${path}${joiner}limit=${MAX_PAGE}&offset=${offset}`, signal);
    all.push(...page.items);
    if (page.items.length === 0 || offset + page.items.length >= page.total) return all;
  }
}

function useSignedIn(): boolean {
  return useSession().state === 'signedIn';
}

export function useVocabulary() {
  const signedIn = useSignedIn();
  return useQuery({
    queryKey: ['vocabulary'],
    queryFn: ({ signal }) => getJson<Vocabularies>('/vocabulary', signal),
    enabled: signedIn,
    staleTime: Infinity, // the vocabularies change with a release only
  });
}

/** `GET /trips` filters (docs/console-api.md). */
export interface TripFilters {
  status?: string[] | undefined;
  priority?: string | undefined;
  agency?: string | undefined;
  vehicle_id?: number | undefined;
  driver_id?: number | undefined;
  mine?: boolean | undefined;
  since?: string | undefined;
  until?: string | undefined;
  q?: string | undefined;
  sort?: string | undefined;
}

export function tripQuery(filters: TripFilters, limit?: number, offset?: number): string {
  return queryString({
    status: filters.status,
    priority: filters.priority,
    agency: filters.agency,
    vehicle_id: filters.vehicle_id,
    driver_id: filters.driver_id,
    mine: filters.mine ? 'true' : undefined,
    since: filters.since,
    until: filters.until,
    q: filters.q?.trim(),
    sort: filters.sort,
    limit,
    offset,
  });
}

/** One page of trips. The key starts with 'trips': a live change to any trip refreshes every list of them. */
export function useTrips(filters: TripFilters, page: number, pageSize: number) {
  const signedIn = useSignedIn();
  return useQuery({
    queryKey: ['trips', 'list', filters, page, pageSize],
    queryFn: ({ signal }) => getJson<Page<Trip>>(`/trips${tripQuery(filters, pageSize, (page - 1) * pageSize)}`, signal),
    enabled: signedIn,
    placeholderData: keepPreviousData,
  });
}

/** Every vehicle, page by page. */
export function allVehicles(signal?: AbortSignal): Promise<Vehicle[]> {
  return allPages<Vehicle>('/vehicles', signal);
}

export function useVehicles() {
  const signedIn = useSignedIn();
  return useQuery({
    queryKey: ['vehicles'],
    queryFn: ({ signal }) => allVehicles(signal),
    enabled: signedIn,
  });
}

export function useAgencies() {
  const signedIn = useSignedIn();
  return useQuery({
    queryKey: ['agencies'],
    queryFn: ({ signal }) => allPages<Agency>('/agencies', signal),
    enabled: signedIn,
    staleTime: 10 * 60 * 1000,
  });
}

/**
 * The agencies as a list writes them, `name (code)` (a code not known: the code alone), and as the options of a
 * select of them.
 */
export function useAgencyNames(): {
  agencyName: (code: string) => string;
  agencyOptions: { value: string; label: string }[];
} {
  const agencies = useAgencies();
  return useMemo(() => {
    const named = (agency: Agency) => `${agency.name} (${agency.code})`;
    const byCode = new Map((agencies.data ?? []).map((agency) => [agency.code, agency]));
    return {
      agencyName: (code: string) => {
        const agency = byCode.get(code);
        return agency ? named(agency) : code;
      },
      agencyOptions: (agencies.data ?? []).map((agency) => ({ value: agency.code, label: named(agency) })),
    };
  }, [agencies.data]);
}

/** The deployment's map settings; where the server has no such endpoint yet (404), none: the plain style. */
export function useConsoleConfig() {
  return useQuery({
    queryKey: ['console-config'],
    queryFn: async ({ signal }) => {
      try {
        return await getJson<ConsoleConfig>('/console/config', signal);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }
    },
    staleTime: Infinity,
  });
}
