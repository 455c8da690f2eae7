import { useQuery } from '@tanstack/react-query';

import { getToken, setToken, useToken } from './auth';
import type { Vocabularies } from './vocabulary';

/** The API's bodies the console reads (api/schemas.py: TripOut, VehicleOut, AgencyOut). */
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
  created_at: string;
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

export const API = '/api/v1';
export const MAX_PAGE = 200; // api/schemas.py MAX_PAGE

/** An error answered by the API: `{"error": code, "detail": sentence, "field": name-or-null}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(status: number, code: string, detail: string, field: string | null = null) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * GET a JSON body as the signed-in user (or with `token`, to try one before keeping it). A 401 signs the user out:
 * the token is unknown or has expired.
 */
export async function getJson<T>(path: string, signal?: AbortSignal, token: string | null = getToken()): Promise<T> {
  const response = await fetch(`${API}${path}`, {
    headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    ...(signal ? { signal } : {}),
  });
  if (!response.ok) {
    let code = 'HttpError';
    let detail = response.statusText;
    let field: string | null = null;
    try {
      const body = (await response.json()) as { error?: string; detail?: string; field?: string | null };
      code = body.error ?? code;
      detail = body.detail ?? detail;
      field = body.field ?? null;
    } catch {
      // not the API's JSON (a proxy's page): keep the status line
    }
    if (response.status === 401) setToken(null);
    throw new ApiError(response.status, code, detail, field);
  }
  return (await response.json()) as T;
}

export function useVocabulary() {
  const token = useToken();
  return useQuery({
    queryKey: ['vocabulary', token],
    queryFn: ({ signal }) => getJson<Vocabularies>('/vocabulary', signal),
    enabled: token !== null,
    staleTime: Infinity, // the vocabularies change with a release only
  });
}

export function useTrips(page: number, pageSize: number) {
  const token = useToken();
  return useQuery({
    queryKey: ['trips', token, page, pageSize],
    queryFn: ({ signal }) =>
      getJson<Page<Trip>>(`/trips?limit=${pageSize}&offset=${(page - 1) * pageSize}`, signal),
    enabled: token !== null,
    placeholderData: (previous) => previous,
  });
}

/** Every vehicle, page by page (the list answers at most MAX_PAGE at a time and no total). */
export async function allVehicles(signal?: AbortSignal): Promise<Vehicle[]> {
  const all: Vehicle[] = [];
  for (let offset = 0; ; offset += MAX_PAGE) {
    const page = await getJson<Vehicle[]>(`/vehicles?limit=${MAX_PAGE}&offset=${offset}`, signal);
    all.push(...page);
    if (page.length < MAX_PAGE) return all;
  }
}

export function useVehicles() {
  const token = useToken();
  return useQuery({
    queryKey: ['vehicles', token],
    queryFn: ({ signal }) => allVehicles(signal),
    enabled: token !== null,
  });
}

export function useAgencies() {
  const token = useToken();
  return useQuery({
    queryKey: ['agencies', token],
    queryFn: ({ signal }) => getJson<Agency[]>('/agencies', signal),
    enabled: token !== null,
  });
}
