import { afterEach, describe, expect, it, vi } from 'vitest';

import { acceptLanguage, ApiError, contentLanguage, errorOf, getJson, queryString, RequestKeys, requestHeaders, retryAfterSeconds, sendJson, sendRetrying, tripQuery, Unreachable } from './api';
import { getSession, signedIn, signedOut, type Me } from './auth';

const ME: Me = { name: 'requester-a', role: 'requester', agency: 'WH-GA', agency_name: null, driver_id: null, driver_name: null };

describe('headers', () => {
  it("carry the console's language, Chinese by default", () => {
    expect(acceptLanguage('zh-CN')).toMatch(/^zh-CN/);
    expect(acceptLanguage('en')).toBe('en');
    expect(requestHeaders('GET', 'zh-CN', null, false)['Accept-Language']).toMatch(/^zh/);
    expect(requestHeaders('GET', 'en', null, false)['Accept-Language']).toBe('en');
  });

  it('carry the CSRF token on a change only, and say JSON when there is a body', () => {
    expect(requestHeaders('GET', 'zh-CN', 'tok', false)).not.toHaveProperty('X-CSRF-Token');
    expect(requestHeaders('POST', 'zh-CN', 'tok', true)).toMatchObject({ 'X-CSRF-Token': 'tok', 'Content-Type': 'application/json' });
    expect(requestHeaders('POST', 'zh-CN', 'tok', false)).not.toHaveProperty('Content-Type');
    expect(requestHeaders('POST', 'zh-CN', null, false)).not.toHaveProperty('X-CSRF-Token');
  });
});

describe('Retry-After', () => {
  it('is seconds, or a date turned into seconds from now', () => {
    expect(retryAfterSeconds('42')).toBe(42);
    const now = new Date('2030-03-12T01:00:00Z');
    expect(retryAfterSeconds('Tue, 12 Mar 2030 01:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('Tue, 12 Mar 2030 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterSeconds(null)).toBeNull();
    expect(retryAfterSeconds('soon')).toBeNull();
  });
});

describe('query strings', () => {
  it('leave out what is not set and repeat lists', () => {
    expect(queryString({ a: 1, b: undefined, c: null, d: '', e: ['x', 'y'], f: true })).toBe('?a=1&e=x&e=y&f=true');
    expect(queryString({})).toBe('');
  });

  it('say the trip filters as the API names them', () => {
    expect(tripQuery({ status: ['requested', 'approved'], mine: true, since: '2030-03-12', until: '2030-03-13', q: ' 执法 ', sort: '-pickup' }, 20, 40)).toBe(
      `?status=requested&status=approved&mine=true&since=2030-03-12&until=2030-03-13&q=${encodeURIComponent('执法')}&sort=-pickup&limit=20&offset=40`,
    );
    expect(tripQuery({ mine: false, status: [] })).toBe('');
  });
});

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

describe('the fetch client', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    signedOut();
  });

  it("reads the API's error: code, sentence, field, Retry-After", async () => {
    const error = await errorOf(answer(429, { error: 'TooManyAttempts', detail: '请稍后再试', field: null }, { 'Retry-After': '30' }));
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.detail, error.field, error.retryAfter]).toEqual([429, 'TooManyAttempts', '请稍后再试', null, 30]);
    const other = await errorOf(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect([other.code, other.detail]).toEqual(['HttpError', 'Bad Gateway']);
  });

  it('sends the session cookie, the CSRF token and the body, and reads a 204 as nothing', async () => {
    signedIn(ME, 'tok-1');
    const fetch = vi.fn(async () => answer(204, undefined));
    vi.stubGlobal('fetch', fetch);
    await expect(sendJson('POST', '/trips/7/cancel', { note: null })).resolves.toBeUndefined();
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/trips/7/cancel');
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    expect(init.body).toBe('{"note":null}');
    expect(init.headers).toMatchObject({ 'X-CSRF-Token': 'tok-1', 'Content-Type': 'application/json' });
  });

  it('signs the page out on a 401, but not on a refused sign-in', async () => {
    signedIn(ME, 'tok');
    vi.stubGlobal('fetch', vi.fn(async () => answer(401, { error: 'Unauthenticated', detail: 'wrong name or password', field: null })));
    await expect(sendJson('POST', '/auth/login', { name: 'x', password: 'y' })).rejects.toMatchObject({ status: 401 });
    expect(getSession().state).toBe('signedIn');
    await expect(getJson('/trips')).rejects.toMatchObject({ status: 401, code: 'Unauthenticated' });
    expect(getSession()).toEqual({ state: 'signedOut', expired: true });
  });

  it('knows the language of the sentence from Content-Language (none where the answer is not the API\'s)', async () => {
    const zh = await errorOf(answer(409, { error: 'InvalidState', detail: '行程 5 当前为 cancelled', field: null }, { 'Content-Language': 'zh-CN' }));
    expect(zh.language).toBe('zh-CN');
    const en = await errorOf(answer(409, { error: 'InvalidState', detail: 'trip 5 is cancelled', field: null }, { 'Content-Language': 'en' }));
    expect(en.language).toBe('en');
    const other = await errorOf(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(other.language).toBeNull();
    expect([contentLanguage('zh'), contentLanguage('zh_CN'), contentLanguage('en-GB'), contentLanguage('fr'), contentLanguage(null)]).toEqual([
      'zh-CN', 'zh-CN', 'en', null, null,
    ]);
  });

  it('says a server that gave no answer is unreachable, and lets an abort through as it is', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    await expect(getJson('/trips')).rejects.toBeInstanceOf(Unreachable);
    const aborted = new DOMException('The operation was aborted.', 'AbortError');
    vi.stubGlobal('fetch', vi.fn(async () => { throw aborted; }));
    await expect(getJson('/trips')).rejects.toBe(aborted);
  });

  it('names the field of a refusal', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(422, { error: 'InvalidInput', detail: "field 'pickup.lat': too big", field: 'pickup.lat' })));
    await expect(sendJson('POST', '/trips', {})).rejects.toMatchObject({ status: 422, field: 'pickup.lat' });
  });
});

describe('a request safe to send again', () => {
  afterEach(() => vi.unstubAllGlobals());

  const busy = () => answer(503, { error: 'Busy', detail: '服务器繁忙', field: null }, { 'Retry-After': '2' });

  it('tries a busy server again after its Retry-After, with the same Idempotency-Key every time', async () => {
    signedIn(ME, 'tok');
    const replies = [busy(), answer(201, { id: 7 })];
    const fetch = vi.fn(async () => replies.shift() as Response);
    vi.stubGlobal('fetch', fetch);
    const waits: number[] = [];
    const wait = async (seconds: number) => { waits.push(seconds); };
    await expect(sendRetrying('POST', '/trips', { purpose: 'x' }, 'key-0001', { wait })).resolves.toEqual({ id: 7 });
    expect(waits).toEqual([2]);
    const keys = fetch.mock.calls.map((call) => ((call as unknown as [string, RequestInit])[1].headers as Record<string, string>)['Idempotency-Key']);
    expect(keys).toEqual(['key-0001', 'key-0001']);
  });

  it('gives up after its tries, and never tries a refusal again', async () => {
    signedIn(ME, 'tok');
    const always = vi.fn(async () => busy());
    vi.stubGlobal('fetch', always);
    const wait = async () => {};
    await expect(sendRetrying('POST', '/trips', {}, 'key-0002', { attempts: 3, wait })).rejects.toMatchObject({ status: 503 });
    expect(always).toHaveBeenCalledTimes(3);
    const refused = vi.fn(async () => answer(422, { error: 'InvalidInput', detail: 'bad', field: 'passengers' }));
    vi.stubGlobal('fetch', refused);
    await expect(sendRetrying('POST', '/trips', {}, 'key-0003', { wait })).rejects.toMatchObject({ status: 422 });
    expect(refused).toHaveBeenCalledTimes(1);
  });

  it('keeps one key per body until the request went through', () => {
    const keys = new RequestKeys();
    const first = keys.keyFor({ a: 1 });
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(keys.keyFor({ a: 1 })).toBe(first);
    const changed = keys.keyFor({ a: 2 });
    expect(changed).not.toBe(first);
    keys.forget();
    expect(keys.keyFor({ a: 2 })).not.toBe(changed);
  });
});
