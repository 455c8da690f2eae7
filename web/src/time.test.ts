import { describe, expect, it } from 'vitest';

import { addDays, chinaDayBounds, chinaInstant, chinaTime, chinaToday, formatChinaDateTime, formatChinaWindow } from './time';

describe('China time', () => {
  it('runs in a zone other than China, so that the helpers cannot lean on the machine', () => {
    expect(new Date('2030-03-12T01:00:00Z').getTimezoneOffset()).not.toBe(-480);
  });

  it('shows a UTC instant in China time', () => {
    expect(formatChinaDateTime('2030-03-12T01:00:00Z')).toBe('2030-03-12 09:00');
    expect(formatChinaDateTime(new Date(Date.UTC(2030, 2, 12, 1, 5)))).toBe('2030-03-12 09:05');
  });

  it('keeps an instant given in China time as it is', () => {
    expect(formatChinaDateTime('2030-03-12T09:30:00+08:00')).toBe('2030-03-12 09:30');
  });

  it('turns the day over at China midnight, written 00:00, not 24:00', () => {
    expect(chinaTime('2030-03-12T16:00:00Z')).toEqual({ date: '2030-03-13', time: '00:00' });
    expect(chinaTime('2030-03-12T15:59:00Z')).toEqual({ date: '2030-03-12', time: '23:59' });
  });

  it('is 24-hour in the afternoon', () => {
    expect(formatChinaDateTime('2030-03-12T12:30:00+08:00')).toBe('2030-03-12 12:30');
    expect(formatChinaDateTime('2030-03-12T20:30:00+08:00')).toBe('2030-03-12 20:30');
  });

  it('has no daylight saving: the same offset in summer as in winter', () => {
    expect(formatChinaDateTime('2030-07-01T00:00:00Z')).toBe('2030-07-01 08:00');
    expect(formatChinaDateTime('2030-01-01T00:00:00Z')).toBe('2030-01-01 08:00');
  });

  it('writes a window on one day with one date, across midnight with two', () => {
    expect(formatChinaWindow('2030-03-12T01:00:00Z', '2030-03-12T01:30:00Z')).toBe('2030-03-12 09:00–09:30');
    expect(formatChinaWindow('2030-03-12T15:30:00Z', '2030-03-12T16:30:00Z')).toBe(
      '2030-03-12 23:30 – 2030-03-13 00:30',
    );
  });

  it('leaves a missing value empty and refuses what is not a date', () => {
    expect(formatChinaDateTime(null)).toBe('');
    expect(formatChinaDateTime(undefined)).toBe('');
    expect(() => formatChinaDateTime('soon')).toThrow(RangeError);
  });
});

describe('China days', () => {
  it("are today's date in China, not in the machine's zone", () => {
    // 20:00 in New York on the 11th is 09:00 on the 12th in Wuhan
    expect(chinaToday(new Date('2030-03-12T01:00:00Z'))).toBe('2030-03-12');
    expect(chinaToday(new Date('2030-03-11T15:59:00Z'))).toBe('2030-03-11');
    expect(chinaToday(new Date('2030-03-11T16:00:00Z'))).toBe('2030-03-12');
  });

  it('add up as calendar days, across months, years and a daylight-saving change elsewhere', () => {
    expect(addDays('2030-03-12', 1)).toBe('2030-03-13');
    expect(addDays('2030-03-31', 1)).toBe('2030-04-01');
    expect(addDays('2030-12-31', 1)).toBe('2031-01-01');
    expect(addDays('2030-03-01', -1)).toBe('2030-02-28');
    expect(addDays('2030-03-10', 1)).toBe('2030-03-11'); // New York springs forward on the 10th
    expect(() => addDays('12/03/2030', 1)).toThrow(RangeError);
  });

  it('give the instant of a picked day and time in China time', () => {
    expect(chinaInstant('2030-03-12', '09:00')).toBe('2030-03-12T09:00:00+08:00');
    expect(new Date(chinaInstant('2030-03-12', '00:30')).toISOString()).toBe('2030-03-11T16:30:00.000Z');
    expect(() => chinaInstant('2030-03-12', '24:00')).toThrow(RangeError);
    expect(() => chinaInstant('2030-3-12', '09:00')).toThrow(RangeError);
  });

  it('run from midnight to midnight in China', () => {
    expect(chinaDayBounds('2030-03-12')).toEqual(['2030-03-12T00:00:00+08:00', '2030-03-13T00:00:00+08:00']);
  });
});
