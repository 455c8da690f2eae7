/**
 * Dates and times as the platform shows them: China time (Asia/Shanghai, UTC+8, no daylight saving), 24-hour,
 * whatever zone the browser is in. The API sends instants with their offset (ISO 8601).
 */

export const CHINA_TIME_ZONE = 'Asia/Shanghai';

const parts = new Intl.DateTimeFormat('en-GB', {
  timeZone: CHINA_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23', // never "24:00" at midnight
});

export interface ChinaTime {
  date: string; // 2030-03-12
  time: string; // 09:05
}

/** The China-time day and clock time of an instant (a `Date` or an ISO 8601 string with an offset). */
export function chinaTime(instant: Date | string): ChinaTime {
  const at = typeof instant === 'string' ? new Date(instant) : instant;
  if (Number.isNaN(at.getTime())) throw new RangeError(`not a date and time: ${String(instant)}`);
  const field: Record<string, string> = {};
  for (const part of parts.formatToParts(at)) field[part.type] = part.value;
  return { date: `${field.year}-${field.month}-${field.day}`, time: `${field.hour}:${field.minute}` };
}

/** `2030-03-12 09:05` in China time; an empty string for a missing value. */
export function formatChinaDateTime(instant: Date | string | null | undefined): string {
  if (instant == null) return '';
  const { date, time } = chinaTime(instant);
  return `${date} ${time}`;
}

/** A window `2030-03-12 09:00–09:30`; the end's date is written out only when it falls on another day. */
export function formatChinaWindow(start: Date | string, end: Date | string): string {
  const a = chinaTime(start);
  const b = chinaTime(end);
  return a.date === b.date ? `${a.date} ${a.time}–${b.time}` : `${a.date} ${a.time} – ${b.date} ${b.time}`;
}
