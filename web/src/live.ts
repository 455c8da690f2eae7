import { useQueryClient, type QueryKey } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { API, getJson } from './api';

/**
 * Live updates: one EventSource on `GET /api/v1/events` (same origin, the session cookie goes with it). Each `change`
 * the platform records marks the queries that show its entity stale, and those on screen load again. The browser
 * reconnects by itself and sends `Last-Event-ID`, and the server sends what was missed; the page still refreshes
 * everything on reconnect, since a stream that was away may have missed more than it is told.
 */

/** A `change` event's data (docs/console-api.md). */
export interface Change {
  seq: number;
  action: string; // trip.assigned
  entity: string; // trip, vehicle, assignment, dispatch_run, …
  entity_id: string;
  at: string;
}

/**
 * The query keys a change makes stale, as prefixes (TanStack matches a key by its first elements): the lists of the
 * entity, the board when the change can show there, and the one object where a page shows it alone.
 */
export function queryKeysFor(change: Pick<Change, 'entity' | 'entity_id' | 'action'>): QueryKey[] {
  const id = Number(change.entity_id);
  const one = (name: string): QueryKey[] => (Number.isFinite(id) && change.entity_id !== '' ? [[name, id]] : []);
  switch (change.entity) {
    case 'trip':
      return [['trips'], ['board'], ...one('trip')];
    case 'assignment': // a vehicle taken or freed: the trip it serves changed as well
      return [['trips'], ['board'], ['trip']];
    case 'vehicle': // registered, transferred, disposed of: also what an agency holds against its quotas
      return [['vehicles'], ['board'], ['quotas'], ...one('vehicle')];
    case 'dispatch_run':
      return [['runs'], ...one('run')];
    case 'driver':
      return [['drivers'], ['board']];
    case 'agency': // merged or split: its vehicles and quotas went with it
      return [['agencies'], ['quotas']];
    case 'quota': // a quota set or cut: the registry page's quotas against the vehicles held
      return [['quotas']];
    default:
      return [];
  }
}

/** The data of a `change` event, or null when it is not one (the stream is the server's; a page must not crash). */
export function parseChange(data: string): Change | null {
  try {
    const value = JSON.parse(data) as Partial<Change> | null;
    if (value === null || typeof value !== 'object') return null;
    if (typeof value.entity !== 'string') return null;
    return {
      seq: Number(value.seq ?? 0),
      action: String(value.action ?? ''),
      entity: value.entity,
      entity_id: String(value.entity_id ?? ''),
      at: String(value.at ?? ''),
    };
  } catch {
    return null;
  }
}

/** How long to wait before opening a stream the browser gave up on (it does not retry after a refusal). */
export function retryDelay(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
}

/**
 * The stream, mounted once by the shell while someone is signed in. Answers whether it is lost (the banner); on
 * each change it invalidates that entity's queries, and when it comes back, all of them.
 */
export function useLive(enabled: boolean): { lost: boolean } {
  const queryClient = useQueryClient();
  const [lost, setLost] = useState(false);

  useEffect(() => {
    if (!enabled || typeof EventSource === 'undefined') return;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let broken = false; // an error since the last open: the next open is a reconnect
    let stopped = false;

    const open = () => {
      if (stopped) return;
      const stream = new EventSource(`${API}/events`);
      source = stream;
      stream.onopen = () => {
        failures = 0;
        setLost(false);
        if (broken) {
          broken = false;
          void queryClient.invalidateQueries(); // catch up with whatever the gap held
        }
      };
      stream.addEventListener('change', (event) => {
        const change = parseChange((event as MessageEvent<string>).data);
        if (change === null) return;
        for (const queryKey of queryKeysFor(change)) void queryClient.invalidateQueries({ queryKey });
      });
      stream.addEventListener('reset', () => void queryClient.invalidateQueries());
      stream.onerror = () => {
        broken = true;
        setLost(true);
        if (stream.readyState === EventSource.CLOSED) {
          // Refused outright (the session ended, the server is restarting): the browser will not try again, so the
          // page does, after asking who it is (a 401 there signs the page out, which ends this effect).
          failures += 1;
          timer = setTimeout(() => {
            void getJson('/auth/me')
              .catch(() => undefined)
              .finally(open);
          }, retryDelay(failures));
        }
      };
    };

    open();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      source?.close();
      setLost(false);
    };
  }, [enabled, queryClient]);

  return { lost };
}
