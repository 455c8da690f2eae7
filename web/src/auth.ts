import { useSyncExternalStore } from 'react';

/**
 * Who is signed in. The session itself is the server's: an HttpOnly cookie (`gongche_session`) the page cannot read,
 * set by `POST /auth/login`. The page keeps only what the server said about the user (`GET /auth/me`), in memory,
 * and the CSRF token every call but GET/HEAD must carry. Nothing is written to storage.
 */

/** `GET /auth/me` (docs/console-api.md). */
export interface Me {
  name: string;
  role: Role;
  agency: string | null;
  agency_name: string | null;
  driver_id: number | null;
  driver_name: string | null;
}

export const ROLES = ['requester', 'approver', 'dispatcher', 'driver', 'supervisor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The readable cookie beside the session's, holding its CSRF token. */
export const CSRF_COOKIE = 'gongche_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

/** The value of cookie `name` in a `document.cookie` string, decoded; null when absent or empty. */
export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(';')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    if (part.slice(0, at).trim() !== name) continue;
    let value = part.slice(at + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded after all: as it is
    }
    return value === '' ? null : value;
  }
  return null;
}

/** Whether a request by `method` changes something, and so must carry the CSRF token. */
export function needsCsrf(method: string): boolean {
  const upper = method.toUpperCase();
  return upper !== 'GET' && upper !== 'HEAD' && upper !== 'OPTIONS';
}

function documentCookies(): string {
  try {
    return typeof document === 'undefined' ? '' : document.cookie;
  } catch {
    return '';
  }
}

export type Session =
  | { state: 'checking' } // the page has just loaded: GET /auth/me is on its way
  | { state: 'signedOut'; expired: boolean }
  | { state: 'signedIn'; user: Me };

let session: Session = { state: 'checking' };
let keptCsrf: string | null = null; // from the login answer, where the cookie cannot be read
const listeners = new Set<() => void>();

function publish(next: Session): void {
  session = next;
  for (const listener of listeners) listener();
}

/** The token for `X-CSRF-Token`: the cookie's (the server may renew it), else the one the login answered. */
export function csrfToken(cookies: string = documentCookies()): string | null {
  return readCookie(cookies, CSRF_COOKIE) ?? keptCsrf;
}

/** Whether the browser holds a session's CSRF cookie at all: without it there is no session to ask about. */
export function mayHaveSession(cookies: string = documentCookies()): boolean {
  return readCookie(cookies, CSRF_COOKIE) !== null;
}

export function getSession(): Session {
  return session;
}

export function signedIn(user: Me, csrf: string | null = keptCsrf): void {
  keptCsrf = csrf;
  publish({ state: 'signedIn', user });
}

/** Signed out: by the user (`expired` false) or because the server no longer knows the session (true). */
export function signedOut(expired = false): void {
  keptCsrf = null;
  if (session.state === 'signedOut' && session.expired === expired) return;
  publish({ state: 'signedOut', expired });
}

/** The server refused the session (401): signed out, unless the page was signed out already. */
export function sessionExpired(): void {
  if (session.state === 'signedOut') return;
  signedOut(session.state === 'signedIn');
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSession(): Session {
  return useSyncExternalStore(subscribe, getSession, getSession);
}

/** The signed-in user (pages under the shell's guard only: they render once there is one). */
export function useMe(): Me {
  const current = useSession();
  if (current.state !== 'signedIn') throw new Error('useMe() outside a signed-in page');
  return current.user;
}

/** Each role's pages, in menu order; the first is where it lands after signing in. */
export type Section = 'book' | 'trips' | 'approvals' | 'board' | 'map' | 'driver' | 'yards' | 'findings' | 'vehicles';

export const SECTIONS: Record<Role, Section[]> = {
  requester: ['book', 'trips'],
  approver: ['approvals', 'book', 'trips'],
  dispatcher: ['board', 'map', 'trips'],
  driver: ['driver'],
  // 纪检, 财政, 审计: the usage audit's findings are what they come for; the trips and yards to check them against.
  supervisor: ['findings', 'trips', 'yards'],
  // The registry's keeper: its vehicles, quotas and what falls due first, then the yards. The API lets it read
  // vehicles, not trips (api/routes/trips.py Reader).
  admin: ['vehicles', 'yards'],
};

export function sectionsOf(role: string): Section[] {
  return (ROLES as readonly string[]).includes(role) ? SECTIONS[role as Role] : [];
}

/** Where a role lands: its first page. */
export function homeOf(role: string): string {
  const first = sectionsOf(role)[0];
  return first === undefined ? '/signin' : `/${first}`;
}

/** Whether `role` may open `path` (its section is the first segment). */
export function mayOpen(role: string, path: string): boolean {
  const section = path.split('/')[1] ?? '';
  return (sectionsOf(role) as string[]).includes(section);
}
