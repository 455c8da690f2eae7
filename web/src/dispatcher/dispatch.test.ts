import dayjs from 'dayjs';
import { describe, expect, it } from 'vitest';

import { km, percent, priorityRows, progressFraction, servedOfOffered } from './dispatch';
import { formItemFor } from '../forms';
import { tripOf, URGENT_ALIASES, URGENT_ITEMS, wallClock, wallClockInstant } from './forms';

describe('progress against the time limit', () => {
  it('is the elapsed share of the limit', () => {
    expect(progressFraction(0, 10)).toBe(0);
    expect(progressFraction(2_500, 10)).toBe(0.25);
    expect(progressFraction(9_000, 10)).toBeCloseTo(0.9);
  });

  it('stops short of full until the answer comes (the plan is still being written)', () => {
    expect(progressFraction(10_000, 10)).toBe(0.99);
    expect(progressFraction(60_000, 10)).toBe(0.99);
  });

  it('is nothing for nonsense', () => {
    expect(progressFraction(-5, 10)).toBe(0);
    expect(progressFraction(1000, 0)).toBe(0);
    expect(progressFraction(Number.NaN, 10)).toBe(0);
  });
});

describe('the result per priority', () => {
  const summary = {
    served: { emergency: 3, law_enforcement: 10, routine: 4 },
    offered: { emergency: 3, law_enforcement: 12, routine: 9 },
    bounds: { served_upper: { emergency: 3, law_enforcement: 11, routine: 7 }, deadhead_lower_km: 40.5, method: 'lp' },
    gap: { emergency: 0, law_enforcement: 1, routine: 3, deadhead: 0.12 },
  };

  it('is served against offered, with the bound and the gap, most urgent first', () => {
    expect(priorityRows(summary)).toEqual([
      { priority: 'emergency', served: 3, offered: 3, bound: 3, gap: 0 },
      { priority: 'law_enforcement', served: 10, offered: 12, bound: 11, gap: 1 },
      { priority: 'routine', served: 4, offered: 9, bound: 7, gap: 3 },
    ]);
    expect(servedOfOffered(summary)).toEqual({ served: 17, offered: 24 });
  });

  it('leaves out priorities the run did not meet, and computes a gap the engine did not give', () => {
    expect(
      priorityRows({
        served: { routine: 1 },
        offered: { routine: 2, emergency: 0 },
        bounds: { served_upper: { routine: 2 } },
        gap: {},
      }),
    ).toEqual([{ priority: 'routine', served: 1, offered: 2, bound: 2, gap: 1 }]);
  });

  it('writes km and the relative gap for the desk', () => {
    expect(km(123.456)).toBe('123.5');
    expect(km(null)).toBe('—');
    expect(percent(0.1234)).toBe('12.3 %');
  });
});

describe('wall clocks in China time', () => {
  it("sends the picker's digits with +08:00, whatever the browser's zone (New York here)", () => {
    expect(wallClockInstant(wallClock('2030-03-12', '00:00'))).toBe('2030-03-12T00:00:00+08:00');
    expect(wallClockInstant(dayjs('2030-03-12T23:45'))).toBe('2030-03-12T23:45:00+08:00');
  });

  it('makes an emergency booking for the agency named', () => {
    const booking = tripOf({
      agency: 'WH-GA',
      purpose: '  危化品泄漏应急处置 ',
      passengers: 3,
      pickup_address: '江岸区沿江大道',
      pickup_lat: 30.6,
      pickup_lon: 114.3,
      dropoff_address: '青山区工人村',
      dropoff_lat: 30.64,
      dropoff_lon: 114.39,
      earliest: wallClock('2030-03-12', '10:00'),
      latest: wallClock('2030-03-12', '10:15'),
      dwell_min: 30,
      approval_basis: ' 单位负责人电话同意 ',
    });
    expect(booking).toEqual({
      agency: 'WH-GA',
      purpose: '危化品泄漏应急处置',
      priority: 'emergency',
      priority_reason: '危化品泄漏应急处置',
      approval_basis: '单位负责人电话同意',
      passengers: 3,
      pickup: { address: '江岸区沿江大道', lat: 30.6, lon: 114.3 },
      dropoff: { address: '青山区工人村', lat: 30.64, lon: 114.39 },
      earliest_pickup: '2030-03-12T10:00:00+08:00',
      latest_pickup: '2030-03-12T10:15:00+08:00',
      dwell_min: 30,
    });
  });
});

describe("the urgent form's item for the API's field", () => {
  it('is the item that holds it, by its own name or its alias', () => {
    const item = (field: string) => formItemFor(field, URGENT_ITEMS, URGENT_ALIASES);
    expect(item('latest_pickup')).toBe('latest');
    expect(item('earliest_pickup')).toBe('earliest');
    expect(item('priority_reason')).toBe('purpose'); // the emergency's reason is sent as both
    expect(item('purpose')).toBe('purpose');
    expect(item('approval_basis')).toBe('approval_basis');
    expect(item('pickup.lat')).toBe('pickup_lat');
    expect(item('dropoff.lon')).toBe('dropoff_lon');
    expect(item('dropoff.address')).toBe('dropoff_address');
    expect(item('pickup')).toBe('pickup_address');
    expect(item('categories.0')).toBe('categories');
    expect(item('passengers')).toBe('passengers');
    expect(item('dwell_min')).toBe('dwell_min');
  });

  it('is none for a field the form does not have', () => {
    expect(formItemFor('priority', URGENT_ITEMS, URGENT_ALIASES)).toBeNull();
    expect(formItemFor('pickup_at', URGENT_ITEMS, URGENT_ALIASES)).toBeNull();
    expect(formItemFor(null, URGENT_ITEMS, URGENT_ALIASES)).toBeNull();
  });
});
