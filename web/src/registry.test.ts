import { describe, expect, it } from 'vitest';

import {
  isNewEnergy,
  moveRequest,
  movesFor,
  quotaRows,
  searchOf,
  vehiclesPath,
  viewOf,
  type Quota,
} from './registry';

describe('the view in the address', () => {
  it('defaults to the first page of every vehicle', () => {
    expect(viewOf(new URLSearchParams(''))).toEqual({
      tab: 'vehicles',
      agency: null,
      category: null,
      status: null,
      powertrain: null,
      q: '',
      page: 1,
      size: 20,
    });
  });

  it('reads the filters, tab and page a link names', () => {
    const params = new URLSearchParams('tab=quotas&agency=WH-GA&category=general&status=sealed&powertrain=bev&q=%E9%84%82A&page=3&size=50');
    expect(viewOf(params)).toEqual({
      tab: 'quotas',
      agency: 'WH-GA',
      category: 'general',
      status: 'sealed',
      powertrain: 'bev',
      q: '鄂A',
      page: 3,
      size: 50,
    });
  });

  it('drops what is no code, an unknown tab and a page written wrong', () => {
    const odd = viewOf(new URLSearchParams('tab=plans&category=<b>&status=Sealed&powertrain=b%20ev&agency=%20&page=-2&size=7&q=%20%20'));
    expect(odd).toEqual({ tab: 'vehicles', agency: null, category: null, status: null, powertrain: null, q: '', page: 1, size: 20 });
    expect(viewOf(new URLSearchParams(`q=${'x'.repeat(150)}`)).q).toHaveLength(100); // the API's longest
  });

  it('writes only what differs from the default, and goes back to the first page on a new filter', () => {
    const view = viewOf(new URLSearchParams('page=4'));
    expect(searchOf(view)).toBe('');
    expect(searchOf(view, { category: 'emergency' })).toBe('category=emergency');
    expect(searchOf(view, { q: ' 鄂A1 ' })).toBe('q=%E9%84%82A1');
    expect(searchOf(view, { page: 2 })).toBe('page=2');
    expect(searchOf(view, { page: 1, size: 50 })).toBe('size=50');
    expect(searchOf(view, { tab: 'quotas' })).toBe('tab=quotas&page=4'); // a tab's switch keeps the list's page
    const changed = searchOf(view, { agency: 'WH-CG', status: 'maintenance' });
    expect(viewOf(new URLSearchParams(changed))).toEqual({ ...view, agency: 'WH-CG', status: 'maintenance', page: 1 });
  });

  it("asks GET /vehicles for the view's page with the route's own filters only", () => {
    const view = viewOf(new URLSearchParams('agency=WH-GA&category=general&status=active&powertrain=phev&q=A1&page=3&size=10&tab=quotas'));
    expect(vehiclesPath(view)).toBe('/vehicles?agency=WH-GA&category=general&status=active&powertrain=phev&q=A1&limit=10&offset=20');
    expect(vehiclesPath(viewOf(new URLSearchParams('')))).toBe('/vehicles?limit=20&offset=0');
  });
});

describe('a vehicle', () => {
  it('is new-energy when battery, plug-in or fuel cell (the national default), not a plain hybrid', () => {
    expect(['bev', 'phev', 'fcev'].map(isNewEnergy)).toEqual([true, true, true]);
    expect(['ice', 'hev'].map(isNewEnergy)).toEqual([false, false]);
  });

  it('allows the moves of its status, and none once disposed of', () => {
    expect(movesFor('active')).toEqual(['seal', 'maintenance_in']);
    expect(movesFor('sealed')).toEqual(['unseal']);
    expect(movesFor('maintenance')).toEqual(['maintenance_out']);
    expect(movesFor('disposed')).toEqual([]);
  });

  it('sends a move its trimmed reason, and a reading only to the workshop moves', () => {
    expect(moveRequest(7, 'seal', { reason: '  长期闲置 ', odometer_km: 12 })).toEqual({
      path: '/vehicles/7/seal',
      body: { reason: '长期闲置' },
    });
    expect(moveRequest(7, 'maintenance_in', { reason: '定期保养', odometer_km: 0 })).toEqual({
      path: '/vehicles/7/maintenance-in',
      body: { reason: '定期保养', odometer_km: 0 },
    });
    expect(moveRequest(7, 'maintenance_out', { reason: '修竣', odometer_km: null })).toEqual({
      path: '/vehicles/7/maintenance-out',
      body: { reason: '修竣' },
    });
  });
});

describe('quotas against the vehicles held', () => {
  const quotas: Quota[] = [
    { agency: 'WH-GA', category: 'general', limit: 1, held: 2 },
    { agency: 'WH-CG', category: 'general', limit: 2, held: 0 },
    { agency: 'WH-GA', category: 'law_enforcement', limit: 3, held: 1 },
    { agency: 'WH-GA', category: 'emergency', limit: 0, held: 1 }, // held without a quota row: 编制 0
  ];

  it('orders by agency, then the vocabulary, and marks what each holds beyond its limit', () => {
    const rows = quotaRows(quotas, ['confidential_comms', 'emergency', 'law_enforcement', 'special_technical', 'general']);
    expect(rows.map(({ agency, category, limit, held, over }) => [agency, category, limit, held, over])).toEqual([
      ['WH-CG', 'general', 2, 0, 0],
      ['WH-GA', 'emergency', 0, 1, 1],
      ['WH-GA', 'law_enforcement', 3, 1, 0],
      ['WH-GA', 'general', 1, 2, 1],
    ]);
    expect(new Set(rows.map((row) => row.key)).size).toBe(rows.length);
  });

  it('puts the categories the vocabulary does not list after those it does, alphabetically', () => {
    expect(quotaRows(quotas, ['general']).map((row) => row.category)).toEqual(['general', 'general', 'emergency', 'law_enforcement']);
  });
});
