import { afterEach, describe, expect, it } from 'vitest';

import {
  csrfToken,
  getSession,
  homeOf,
  mayHaveSession,
  mayOpen,
  needsCsrf,
  readCookie,
  sessionExpired,
  signedIn,
  signedOut,
  type Me,
} from './auth';

const ME: Me = { name: '李科长', role: 'approver', agency: 'WH-GA', agency_name: '市公安局', driver_id: null, driver_name: null };

describe('cookies', () => {
  it('are read by name among others, blanks around them ignored', () => {
    const jar = 'theme=dark; gongche_csrf=abc123 ;  other=1';
    expect(readCookie(jar, 'gongche_csrf')).toBe('abc123');
    expect(readCookie(jar, 'theme')).toBe('dark');
    expect(readCookie(jar, 'missing')).toBeNull();
    expect(readCookie('', 'gongche_csrf')).toBeNull();
  });

  it('are decoded, unquoted, and a name is matched whole', () => {
    expect(readCookie('gongche_csrf=a%2Bb%3D', 'gongche_csrf')).toBe('a+b=');
    expect(readCookie('gongche_csrf="q-1"', 'gongche_csrf')).toBe('q-1');
    expect(readCookie('xgongche_csrf=no; gongche_csrf_old=no', 'gongche_csrf')).toBeNull();
    expect(readCookie('gongche_csrf=', 'gongche_csrf')).toBeNull();
    expect(readCookie('gongche_csrf=%E0%A4%A', 'gongche_csrf')).toBe('%E0%A4%A'); // not encoding after all
  });
});

describe('the CSRF token', () => {
  afterEach(() => signedOut());

  it('goes with every method that changes something, never with a read', () => {
    for (const method of ['POST', 'put', 'PATCH', 'DELETE']) expect(needsCsrf(method)).toBe(true);
    for (const method of ['GET', 'head', 'OPTIONS']) expect(needsCsrf(method)).toBe(false);
  });

  it("is the cookie's, else the one the sign-in answered, and none once signed out", () => {
    signedIn(ME, 'from-login');
    expect(csrfToken('gongche_csrf=from-cookie')).toBe('from-cookie');
    expect(csrfToken('')).toBe('from-login');
    signedOut();
    expect(csrfToken('')).toBeNull();
  });

  it('tells whether there may be a session at all', () => {
    expect(mayHaveSession('gongche_csrf=x')).toBe(true);
    expect(mayHaveSession('theme=dark')).toBe(false);
  });
});

describe('the session', () => {
  it('is signed in with the user, and expired by a 401 only when it was signed in', () => {
    signedIn(ME, 't');
    expect(getSession()).toEqual({ state: 'signedIn', user: ME });
    sessionExpired();
    expect(getSession()).toEqual({ state: 'signedOut', expired: true });
    signedOut();
    sessionExpired(); // a 401 while signed out says nothing new
    expect(getSession()).toEqual({ state: 'signedOut', expired: false });
  });
});

describe('roles', () => {
  it('land on their own first page', () => {
    expect(homeOf('requester')).toBe('/book');
    expect(homeOf('approver')).toBe('/approvals');
    expect(homeOf('dispatcher')).toBe('/board');
    expect(homeOf('driver')).toBe('/driver');
    expect(homeOf('supervisor')).toBe('/findings');
    expect(homeOf('admin')).toBe('/vehicles');
    expect(homeOf('nobody')).toBe('/signin');
  });

  it("open only their menu's pages", () => {
    expect(mayOpen('requester', '/trips')).toBe(true);
    expect(mayOpen('requester', '/approvals')).toBe(false);
    expect(mayOpen('approver', '/approvals')).toBe(true);
    expect(mayOpen('approver', '/book')).toBe(true);
    expect(mayOpen('driver', '/driver')).toBe(true);
    expect(mayOpen('driver', '/trips')).toBe(false);
    expect(mayOpen('dispatcher', '/map')).toBe(true);
    expect(mayOpen('dispatcher', '/board')).toBe(true);
    expect(mayOpen('supervisor', '/book')).toBe(false);
    expect(mayOpen('supervisor', '/findings')).toBe(true);
    expect(mayOpen('supervisor', '/trips')).toBe(true);
    expect(mayOpen('dispatcher', '/findings')).toBe(false);
    expect(mayOpen('admin', '/findings')).toBe(false);
    expect(mayOpen('admin', '/vehicles')).toBe(true);
    expect(mayOpen('admin', '/yards')).toBe(true);
    expect(mayOpen('supervisor', '/vehicles')).toBe(false);
  });
});
