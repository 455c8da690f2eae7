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

/** Today's date in China (`2030-03-12`), whatever the browser's zone: the day a driver's list and a board show. */
export function chinaToday(now: Date = new Date()): string {
  return chinaTime(now).date;
}

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CLOCK_RE = /^(\d{2}):(\d{2})$/;

/** `date` plus `days` days (calendar arithmetic on the date alone: no zone, no daylight saving). */
export function addDays(date: string, days: number): string {
  const match = DAY_RE.exec(date);
  if (!match) throw new RangeError(`not a date: ${date}`);
  const at = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days));
  return at.toISOString().slice(0, 10);
}

/**
 * The instant of a China-time day and clock time, as the API takes it: `2030-03-12T09:00:00+08:00`. Pickers give
 * the wall-clock day and time the user chose; read as China time, what the browser's zone is does not matter.
 */
export function chinaInstant(date: string, time: string): string {
  const day = DAY_RE.exec(date);
  const clock = CLOCK_RE.exec(time);
  if (!day) throw new RangeError(`not a date: ${date}`);
  if (!clock || Number(clock[1]) > 23 || Number(clock[2]) > 59) throw new RangeError(`not a time: ${time}`);
  return `${date}T${time}:00+08:00`;
}

/** [start, end) of a China day as instants: 00:00 that day to 00:00 the next. */
export function chinaDayBounds(date: string): [string, string] {
  return [chinaInstant(date, '00:00'), chinaInstant(addDays(date, 1), '00:00')];
}
