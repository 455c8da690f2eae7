import dayjs from 'dayjs';
import { describe, expect, it } from 'vitest';

import { decideAll } from './approvals';
import { BOOK_ALIASES, BOOK_ITEMS, tripBody } from './booking';
import { fieldMessage, formItemFor, isNumberIn, isWholeIn, lengthRule, numberRule, wholeNumberRule } from './forms';

describe("the API's field", () => {
  it("is the booking form's item that holds it", () => {
    expect(formItemFor('pickup.lat', BOOK_ITEMS, BOOK_ALIASES)).toBe('pickup');
    expect(formItemFor('dropoff.address', BOOK_ITEMS, BOOK_ALIASES)).toBe('dropoff');
    expect(formItemFor('earliest_pickup', BOOK_ITEMS, BOOK_ALIASES)).toBe('earliest');
    expect(formItemFor('latest_pickup', BOOK_ITEMS, BOOK_ALIASES)).toBe('latest');
    expect(formItemFor('categories.1', BOOK_ITEMS, BOOK_ALIASES)).toBe('categories');
    expect(formItemFor('purpose', BOOK_ITEMS, BOOK_ALIASES)).toBe('purpose');
    expect(formItemFor('dwell_min', BOOK_ITEMS, BOOK_ALIASES)).toBe('dwell_min');
  });

  it('is no item when the form has none for it (shown above the form instead)', () => {
    expect(formItemFor('agency', BOOK_ITEMS, BOOK_ALIASES)).toBeNull();
    expect(formItemFor(null, BOOK_ITEMS)).toBeNull();
    expect(formItemFor('', BOOK_ITEMS)).toBeNull();
    expect(formItemFor('odometer_km', ['odometer_km'])).toBe('odometer_km');
  });

  it("is shown with the API's sentence, less its leading field name", () => {
    expect(fieldMessage("field 'latest_pickup': is before earliest_pickup")).toBe('is before earliest_pickup');
    expect(fieldMessage('字段“pickup.lat”：应小于或等于 90')).toBe('应小于或等于 90');
    expect(fieldMessage("字段 'purpose'：至少 2 个字符")).toBe('至少 2 个字符');
    expect(fieldMessage('odometer 900 km is below the start reading 1000 km')).toBe('odometer 900 km is below the start reading 1000 km');
  });
});

describe('the booking', () => {
  const place = (address: string) => ({ lat: 30.6, lon: 114.3, address });

  it('is sent with its window in China time, whatever zone the browser is in', () => {
    const body = tripBody({
      purpose: '  执法检查 ',
      priority: 'law_enforcement',
      categories: [],
      passengers: 2,
      pickup: place('江岸区沿江大道'),
      dropoff: place('黄陂区前川街'),
      day: dayjs('2030-03-12'),
      earliest: dayjs('2030-01-01T09:00'),
      latest: dayjs('2030-01-01T09:30'),
      dwell_min: 30,
    });
    expect(body).toEqual({
      purpose: '执法检查',
      priority: 'law_enforcement',
      passengers: 2,
      pickup: place('江岸区沿江大道'),
      dropoff: place('黄陂区前川街'),
      earliest_pickup: '2030-03-12T09:00:00+08:00',
      latest_pickup: '2030-03-12T09:30:00+08:00',
      dwell_min: 30,
    });
  });

  it('carries the reason of an emergency, and none for a routine trip whatever the form still holds', () => {
    const base = {
      purpose: '抢险', categories: [], passengers: 1, pickup: place('a'), dropoff: place('b'), day: dayjs('2030-03-12'),
      earliest: dayjs('2030-01-01T10:00'), latest: dayjs('2030-01-01T10:30'), dwell_min: 0,
    };
    expect(tripBody({ ...base, priority: 'emergency', priority_reason: ' 暴雨内涝 ' }).priority_reason).toBe('暴雨内涝');
    expect(tripBody({ ...base, priority: 'routine', priority_reason: '暴雨内涝' })).not.toHaveProperty('priority_reason');
    expect(tripBody({ ...base, priority: 'law_enforcement', priority_reason: '  ' })).not.toHaveProperty('priority_reason');
  });

  it('names its categories only when some were chosen', () => {
    const body = tripBody({
      purpose: '抢险',
      priority: 'emergency',
      categories: ['emergency', 'special_technical'],
      passengers: 1,
      pickup: place('a'),
      dropoff: place('b'),
      day: dayjs('2030-03-12'),
      earliest: dayjs('2030-01-01T23:55'),
      latest: dayjs('2030-01-01T23:55'),
      dwell_min: 0,
    });
    expect(body.categories).toEqual(['emergency', 'special_technical']);
  });
});

describe('a decision over several trips', () => {
  it('reports each outcome, the failures with their reason', async () => {
    const outcomes = await decideAll([3, 4, 5], async (id) => {
      if (id === 4) throw new Error('trip 4 is approved; approve needs requested');
    });
    expect(outcomes.map((o) => [o.id, o.ok, o.error?.message ?? null])).toEqual([
      [3, true, null],
      [4, false, 'trip 4 is approved; approve needs requested'],
      [5, true, null],
    ]);
  });
});

describe('a whole-number field', () => {
  it('takes whole numbers within its bounds and refuses the rest as they are', async () => {
    expect([0, 145_855, 3_000_000].map((km) => isWholeIn(km, 0, 3_000_000))).toEqual([true, true, true]);
    expect([-1, 3_000_001, 99_999_999, 12.5, Number.NaN, '12'].map((km) => isWholeIn(km, 0, 3_000_000))).toEqual([
      false, false, false, false, false, false,
    ]);
    const rule = wholeNumberRule(1, 60, 'from 1 to 60');
    const validate = (value: unknown) => (rule as { validator: (r: unknown, v: unknown) => Promise<void> }).validator({}, value);
    await expect(validate(60)).resolves.toBeUndefined();
    await expect(validate(null)).resolves.toBeUndefined(); // "required" says that one
    await expect(validate(999)).rejects.toThrow('from 1 to 60');
  });
});

/** A rule's validator, called as the form would. */
function validator(rule: unknown): (value: unknown) => Promise<void> {
  return (value) => (rule as { validator: (r: unknown, v: unknown) => Promise<void> }).validator({}, value);
}

describe('a decimal field', () => {
  it('takes numbers within its bounds, decimals and all, and refuses the rest as they are', async () => {
    expect([-90, 0, 30.5928, 90].map((lat) => isNumberIn(lat, -90, 90))).toEqual([true, true, true, true]);
    expect([-90.0001, 90.5, 95, Number.NaN, Number.POSITIVE_INFINITY, '30.5'].map((lat) => isNumberIn(lat, -90, 90))).toEqual([
      false, false, false, false, false, false,
    ]);
    const validate = validator(numberRule(-180, 180, 'from -180 to 180'));
    await expect(validate(114.30551234)).resolves.toBeUndefined(); // not rounded to the step
    await expect(validate(undefined)).resolves.toBeUndefined(); // "required" says that one
    await expect(validate(180.0001)).rejects.toThrow('from -180 to 180');
    await expect(validate(-200)).rejects.toThrow('from -180 to 180');
  });
});

describe('a text field of bounded length', () => {
  it('refuses a text too short or too long with its own message, and leaves an empty one to "required"', async () => {
    const validate = validator(lengthRule(2, 500, '2–500 characters'));
    await expect(validate('泄漏')).resolves.toBeUndefined();
    await expect(validate('')).resolves.toBeUndefined();
    await expect(validate(undefined)).resolves.toBeUndefined();
    await expect(validate('  ')).resolves.toBeUndefined();
    await expect(validate('火')).rejects.toThrow('2–500 characters');
    await expect(validate(' 火 ')).rejects.toThrow('2–500 characters'); // counted trimmed, as the server does
    await expect(validate('火'.repeat(501))).rejects.toThrow('2–500 characters');
  });
});
