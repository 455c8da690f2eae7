/**
 * What the dispatcher's pages read and write. Query keys start with the words the live updates invalidate on a
 * server event (web/src/live.ts: 'board', 'trips', 'vehicles', 'runs'), so the board refreshes itself when anyone
 * changes the day.
 */
import { useQuery, type QueryClient } from '@tanstack/react-query';

import { allPages, getJson, sendJson, sendRetrying, type Agency, type Page, type Trip, type Vehicle } from '../api';
import type {
  Board,
  Booking,
  DispatchRequest,
  DispatchRun,
  DispatchSummary,
  LatestPositions,
  PlaceHit,
  TripIn,
  TripTrack,
} from './types';

export const boardKey = (day: string) => ['board', day] as const;

/** Reads started before the page's first render, by day: the first `useBoard` of that day takes its answer. */
const ahead = new Map<string, Promise<Board>>();

/**
 * Start reading a day's board as the page's code arrives, rather than after its first render (which, the first
 * time, costs as long as the read itself).
 */
export function readBoardAhead(day: string): void {
  if (ahead.has(day)) return;
  const read = getJson<Board>(`/board?day=${encodeURIComponent(day)}`);
  read.catch(() => ahead.delete(day)); // a failure is the query's to report, on its own read
  ahead.set(day, read);
}

export function useBoard(day: string) {
  return useQuery({
    queryKey: boardKey(day),
    queryFn: ({ signal }) => {
      const started = ahead.get(day);
      ahead.delete(day);
      return started ?? getJson<Board>(`/board?day=${encodeURIComponent(day)}`, signal);
    },
  });
}

export function useRuns() {
  return useQuery({
    queryKey: ['runs', 'list'],
    queryFn: ({ signal }) => getJson<Page<DispatchRun>>('/dispatch/runs?limit=50', signal),
    // a run in progress is watched until it ends (its end is also an event, but this does not depend on it)
    refetchInterval: (query) => (query.state.data?.items.some((r) => r.status === 'running') ? 2000 : false),
  });
}

/** Every trip picked up on the day (China time), page by page. */
export function dayTrips(day: string, signal?: AbortSignal): Promise<Trip[]> {
  return allPages<Trip>(`/trips?since=${day}&until=${day}`, signal);
}

export function useDayTrips(day: string, enabled = true) {
  return useQuery({
    queryKey: ['trips', 'day', day],
    queryFn: ({ signal }) => dayTrips(day, signal),
    enabled,
  });
}

export function useAgencyList() {
  return useQuery({
    queryKey: ['dispatcher', 'agencies'],
    queryFn: ({ signal }) => allPages<Agency>('/agencies', signal),
    staleTime: 10 * 60 * 1000,
  });
}

export function useTrip(id: number | null) {
  return useQuery({
    queryKey: ['trips', 'one', id],
    queryFn: ({ signal }) => getJson<Trip>(`/trips/${id}`, signal),
    enabled: id !== null,
  });
}

/** Vehicles `assign` would accept for the trip at its earliest pickup: in service, free then, fit for it. */
export function useAvailable(tripId: number | null) {
  return useQuery({
    queryKey: ['vehicles', 'available', tripId],
    queryFn: ({ signal }) => getJson<Vehicle[]>(`/vehicles/available?trip_id=${tripId}`, signal),
    enabled: tripId !== null,
  });
}

export function usePlaces(q: string) {
  return useQuery({
    queryKey: ['dispatcher', 'places', q],
    queryFn: ({ signal }) => getJson<PlaceHit[]>(`/places?q=${encodeURIComponent(q)}&limit=10`, signal),
    enabled: q.trim().length > 0,
    staleTime: 60 * 1000,
    retry: false,
  });
}

/**
 * How often the live map asks where the vehicles are. Polled rather than pushed: fixes are telemetry, not changes
 * the platform records (they are not in the audit log whose records the event stream carries, web/src/live.ts), and
 * one small read every few seconds per open map costs less than an event per fix of every vehicle would.
 */
export const LIVE_POLL_MS = 5000;

/** Every vehicle's newest position, read again every `LIVE_POLL_MS` while the page is visible. */
export function useLatestPositions(enabled = true) {
  return useQuery({
    queryKey: ['positions', 'latest'],
    queryFn: ({ signal }) => getJson<LatestPositions>('/positions/latest', signal),
    enabled,
    refetchInterval: LIVE_POLL_MS,
    retry: false, // a refusal (403) stays one; a lost poll is simply the next one
  });
}

/**
 * A trip's track beside its planned route. Its key starts with 'trips', so a change of the trip (started, completed:
 * the live stream) reads it again; while it is under way, it is read again every `LIVE_POLL_MS * 2` as well.
 */
export function useTripTrack(tripId: number | null, underWay: boolean) {
  return useQuery({
    queryKey: ['trips', 'track', tripId],
    queryFn: ({ signal }) => getJson<TripTrack>(`/trips/${tripId}/track`, signal),
    enabled: tripId !== null,
    refetchInterval: underWay ? LIVE_POLL_MS * 2 : false,
  });
}

// --- changes -------------------------------------------------------------------------------------------------------

export function assignTrip(tripId: number, vehicleId: number): Promise<Trip> {
  return sendJson<Trip>('POST', `/trips/${tripId}/assign`, { vehicle_id: vehicleId });
}

export function unassignTrip(tripId: number, note: string | null): Promise<Trip> {
  return sendJson<Trip>('POST', `/trips/${tripId}/unassign`, { note: note || null });
}

export function runDispatch(request: DispatchRequest): Promise<DispatchSummary> {
  return sendJson<DispatchSummary>('POST', '/dispatch', request);
}

export function bookTrip(trip: TripIn, key: string): Promise<Booking> {
  return sendRetrying<Booking>('POST', '/trips', trip, key);
}

/** After a change to the day: the board, the trips and the runs are read again. */
export function refreshDay(client: QueryClient): Promise<unknown> {
  return Promise.all([
    client.invalidateQueries({ queryKey: ['board'] }),
    client.invalidateQueries({ queryKey: ['trips'] }),
    client.invalidateQueries({ queryKey: ['vehicles'] }),
  ]);
}
