/**
 * The day board's data, pure (no DOM, no timeline): China-time days, the vehicle filters, the timeline's groups and
 * items built from `GET /board`, the queue's order, and the in-place update of a data set with what changed only —
 * the board keeps one timeline and one pair of data sets for its whole life, however often the board refetches.
 */
import type { Trip } from '../api';
import { chinaTime } from '../time';
import type { VocabularyName } from '../vocabulary';
import type { Board, BoardVehicle, CalendarItem } from './types';

// --- days in China time --------------------------------------------------------------------------------------------

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a calendar day `YYYY-MM-DD` that exists. */
export function isDay(text: string | null | undefined): text is string {
  const match = DAY_RE.exec(text ?? '');
  if (!match) return false;
  const [, y, m, d] = match.map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** Today in China (Asia/Shanghai), whatever the browser's zone. */
export function todayInChina(now: Date = new Date()): string {
  return chinaTime(now).date;
}

/** The day `delta` days after `day` (calendar arithmetic on the date alone: no zone is involved). */
export function shiftDay(day: string, delta: number): string {
  const match = DAY_RE.exec(day);
  if (!match) throw new RangeError(`not a day: ${day}`);
  const [, y, m, d] = match.map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d + delta));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** `2030-03-12` + `09:30` as an instant in China time, as the API takes it: `2030-03-12T09:30:00+08:00`. */
export function chinaInstant(day: string, clock = '00:00'): string {
  return `${day}T${clock.length === 5 ? `${clock}:00` : clock}+08:00`;
}

/** The whole China-time day: [00:00, next day 00:00) as instants. */
export function dayWindow(day: string): { start: string; end: string } {
  return { start: chinaInstant(day), end: chinaInstant(shiftDay(day, 1)) };
}

// --- priorities and the queue --------------------------------------------------------------------------------------

/** The dispatch engine's tiers, most urgent first (fleet/enums.py Priority). */
export const PRIORITIES = ['emergency', 'law_enforcement', 'routine'] as const;

export function priorityRank(priority: string | null | undefined): number {
  const rank = (PRIORITIES as readonly string[]).indexOf(priority ?? '');
  return rank === -1 ? PRIORITIES.length : rank;
}

/** The queue as the desk works it: emergencies first, then by tier, then by earliest pickup, then by number. */
export function orderQueue(trips: readonly Trip[]): Trip[] {
  return [...trips].sort(
    (a, b) =>
      priorityRank(a.priority) - priorityRank(b.priority) ||
      Date.parse(a.earliest_pickup) - Date.parse(b.earliest_pickup) ||
      a.id - b.id,
  );
}

// --- dragging trips onto rows -------------------------------------------------------------------------------------

/**
 * What a trip carries while it is dragged onto a row, from the queue or from another row: vis-timeline's format for
 * an item dropped from outside (`content` is required; `target` other than 'item' means "onto the row under the
 * pointer"), with the trip's number.
 */
export interface DraggedTrip {
  id: string;
  type: 'range';
  content: string;
  start: string;
  end: string;
  target: 'group';
  trip_id: number;
  /** Dragged from another row: a reassignment. */
  moving?: boolean;
}

export const DRAG_FORMAT = 'text';

// --- filters -------------------------------------------------------------------------------------------------------

/** Vehicles shown: empty lists mean "all". */
export interface BoardFilters {
  agencies: string[];
  categories: string[];
  statuses: string[];
}

export const NO_FILTERS: BoardFilters = { agencies: [], categories: [], statuses: [] };

export function matches(vehicle: BoardVehicle, filters: BoardFilters): boolean {
  return (
    (filters.agencies.length === 0 || filters.agencies.includes(vehicle.agency)) &&
    (filters.categories.length === 0 || filters.categories.includes(vehicle.category)) &&
    (filters.statuses.length === 0 || filters.statuses.includes(vehicle.status))
  );
}

/** The values present on the board, for the filters' options, in a stable order. */
export function facets(vehicles: readonly BoardVehicle[]): BoardFilters {
  const distinct = (values: string[]) => [...new Set(values)].sort();
  return {
    agencies: distinct(vehicles.map((v) => v.agency)),
    categories: distinct(vehicles.map((v) => v.category)),
    statuses: distinct(vehicles.map((v) => v.status)),
  };
}

// --- timeline groups and items -------------------------------------------------------------------------------------

/** A label of the registry's vocabulary in the console's language (`vocabulary.label` bound to both). */
export type Labeller = (vocabulary: VocabularyName, value: string) => string;

/** One vehicle row. `content` is plain text (the timeline's fallback); the label is drawn from the other fields. */
export interface VehicleGroup {
  id: number;
  content: string;
  order: number;
  plate: string;
  detail: string;
  drivers: string;
  title: string;
  className: string;
}

/**
 * One thing on a row: an assignment (a range) or a sealed/workshop period (a background). `content` and `title` are
 * HTML (escaped) for the timeline; `text` is the same words as plain text, which the board draws itself.
 */
export interface BoardItem {
  id: string;
  group: number;
  start: number;
  end: number;
  type: 'range' | 'background';
  content: string;
  text: string;
  title: string;
  className: string;
  editable: false;
  selectable: boolean;
  trip_id: number | null;
  /** What a screen reader says of it: a trip by its number, purpose and vehicle, its time and how it stands. */
  label: string;
}

/** The words of a trip's accessible name (`words.tripLabel` puts them into a sentence of the console's language). */
export interface TripLabelParts {
  id: number;
  purpose: string;
  plate: string;
  window: string;
  priority: string;
  status: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// --- China time, fast -----------------------------------------------------------------------------------------

const CHINA_OFFSET_MS = 8 * 60 * 60 * 1000; // UTC+8, no daylight saving since 1991
const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * `2030-03-12` and `09:05` of an instant in China time, by arithmetic on the fixed offset: the same as `chinaTime`
 * (web/src/time.ts) for any instant since 1992, without `Intl` — the board formats a thousand items on every read.
 */
export function chinaParts(instant: string | number): { date: string; time: string } {
  const at = new Date((typeof instant === 'number' ? instant : Date.parse(instant)) + CHINA_OFFSET_MS);
  return {
    date: `${at.getUTCFullYear()}-${pad2(at.getUTCMonth() + 1)}-${pad2(at.getUTCDate())}`,
    time: `${pad2(at.getUTCHours())}:${pad2(at.getUTCMinutes())}`,
  };
}

/** A window `2030-03-12 09:00–09:30` (the end's date only when it is another day), as `formatChinaWindow` writes it. */
export function chinaWindow(start: string, end: string): string {
  const a = chinaParts(start);
  const b = chinaParts(end);
  return a.date === b.date ? `${a.date} ${a.time}–${b.time}` : `${a.date} ${a.time} – ${b.date} ${b.time}`;
}

function clock(instant: string): string {
  return chinaParts(instant).time;
}

/** Rows in a stable order: by agency, then category, then plate. */
export function sortVehicles(vehicles: readonly BoardVehicle[]): BoardVehicle[] {
  return [...vehicles].sort(
    (a, b) =>
      a.agency.localeCompare(b.agency) || a.category.localeCompare(b.category) || a.plate.localeCompare(b.plate),
  );
}

export function groupsOf(
  vehicles: readonly BoardVehicle[],
  filters: BoardFilters,
  labelOf: Labeller,
  words: { noDriver: string; agencyName?: (code: string) => string },
): VehicleGroup[] {
  return sortVehicles(vehicles)
    .filter((v) => matches(v, filters))
    .map((v, order) => {
      const detail = [labelOf('category', v.category), labelOf('powertrain', v.powertrain), v.agency].join(' · ');
      const drivers = v.drivers.length > 0 ? v.drivers.join('、') : words.noDriver;
      const agency = words.agencyName?.(v.agency) ?? v.agency;
      return {
        id: v.id,
        content: v.plate,
        order,
        plate: v.plate,
        detail,
        drivers,
        title: `${v.plate} ${v.model} · ${labelOf('vehicle_status', v.status)} · ${agency} · ${drivers}`,
        className: `gc-vehicle gc-vehicle-${v.status} gc-row-${v.id}`,
      };
    });
}

/** The items of the vehicles shown (`shown`: their ids); assignments coloured by priority, periods as backgrounds. */
export function itemsOf(
  items: readonly CalendarItem[],
  shown: ReadonlySet<number>,
  labelOf: Labeller,
  words: {
    sealed: string;
    workshop: string;
    tripLabel?: (parts: TripLabelParts) => string;
    plateOf?: (vehicleId: number) => string;
  },
): BoardItem[] {
  const out: BoardItem[] = [];
  for (const item of items) {
    if (!shown.has(item.vehicle_id)) continue;
    const start = Date.parse(item.start);
    const end = Date.parse(item.end);
    if (item.kind !== 'assignment') {
      const text = item.kind === 'sealed' ? words.sealed : words.workshop;
      out.push({
        id: item.id,
        group: item.vehicle_id,
        start,
        end,
        type: 'background',
        content: escapeHtml(text),
        text,
        title: escapeHtml(`${text} ${clock(item.start)}–${clock(item.end)}`),
        className: `gc-period gc-period-${item.kind}`,
        editable: false,
        selectable: false,
        trip_id: null,
        label: `${text} ${clock(item.start)}–${clock(item.end)}`,
      });
      continue;
    }
    const priority = item.priority ?? 'routine';
    const status = item.status ?? 'assigned';
    // Only a trip still waiting for its vehicle may move to another; one under way or done stays where it is.
    // The move is a drag and drop of the board's own (see BoardTimeline), not the timeline's: its items stay put.
    const movable = status === 'assigned';
    const head = `#${item.trip_id ?? ''} ${item.purpose ?? ''}`.trim();
    const facts = [
      `${clock(item.start)}–${clock(item.end)}`,
      labelOf('priority', priority),
      labelOf('trip_status', status),
      item.driver ?? '',
      item.agency ?? '',
    ].filter((s) => s !== '');
    const plate = words.plateOf?.(item.vehicle_id) ?? String(item.vehicle_id);
    const parts: TripLabelParts = {
      id: item.trip_id ?? 0,
      purpose: item.purpose ?? '',
      plate,
      window: `${clock(item.start)}–${clock(item.end)}`,
      priority: labelOf('priority', priority),
      status: labelOf('trip_status', status),
    };
    out.push({
      id: item.id,
      group: item.vehicle_id,
      start,
      end,
      type: 'range',
      content: escapeHtml(head),
      text: head,
      title: escapeHtml(`${head} · ${facts.join(' · ')}`),
      className: `gc-trip gc-priority-${priority} gc-trip-${status}${movable ? ' gc-movable' : ''}`,
      editable: false,
      selectable: true,
      trip_id: item.trip_id ?? null,
      label: words.tripLabel?.(parts) ?? `${head} · ${plate} · ${facts.join(' · ')}`,
    });
  }
  return out;
}

/** Everything the timeline shows of a board under filters: its rows and their items. */
export function timelineData(
  board: Board,
  filters: BoardFilters,
  labelOf: Labeller,
  words: {
    noDriver: string;
    sealed: string;
    workshop: string;
    agencyName?: (code: string) => string;
    tripLabel?: (parts: TripLabelParts) => string;
  },
): { groups: VehicleGroup[]; items: BoardItem[] } {
  const groups = groupsOf(board.vehicles, filters, labelOf, words);
  const shown = new Set(groups.map((g) => g.id));
  const plates = new Map(board.vehicles.map((v) => [v.id, v.plate]));
  const plateOf = (vehicleId: number) => plates.get(vehicleId) ?? String(vehicleId);
  return { groups, items: itemsOf(board.items, shown, labelOf, { ...words, plateOf }) };
}

// --- the keyboard on the board ----------------------------------------------------------------------------------------

/** A trip's place on the board: its row (a vehicle) and its start. */
export interface TripPlace {
  trip: number;
  row: number;
  start: number;
}

/** The keys that move between trips: along a row, to the row above or below, to a row's ends or the board's. */
export type TripKey = 'ArrowLeft' | 'ArrowRight' | 'ArrowUp' | 'ArrowDown' | 'Home' | 'End';

export function isTripKey(key: string): key is TripKey {
  return ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End'].includes(key);
}

/** The rows (in `rows`' order) that hold trips, each with its trips by start. */
function tripRows(rows: readonly number[], trips: readonly TripPlace[]): TripPlace[][] {
  const byRow = new Map<number, TripPlace[]>();
  for (const trip of trips) byRow.set(trip.row, [...(byRow.get(trip.row) ?? []), trip]);
  return rows
    .map((row) => (byRow.get(row) ?? []).sort((a, b) => a.start - b.start || a.trip - b.trip))
    .filter((row) => row.length > 0);
}

/** The board's trips in reading order: row by row, each row by start. */
export function tripOrder(rows: readonly number[], trips: readonly TripPlace[]): TripPlace[] {
  return tripRows(rows, trips).flat();
}

/**
 * The trip `key` goes to from the trip `from`: the next or previous on its row, the nearest in time on the next row
 * above or below that holds trips, the first or last of its row (with `board`, Ctrl held: of the whole board).
 * Null where there is none that way (the focus stays).
 */
export function stepTrip(
  rows: readonly number[],
  trips: readonly TripPlace[],
  from: number,
  key: TripKey,
  board = false,
): number | null {
  const lines = tripRows(rows, trips);
  const line = lines.findIndex((row) => row.some((t) => t.trip === from));
  const row = lines[line];
  if (row === undefined) return lines[0]?.[0]?.trip ?? null;
  const at = row.findIndex((t) => t.trip === from);
  const here = row[at] as TripPlace;
  switch (key) {
    case 'ArrowLeft':
      return row[at - 1]?.trip ?? null;
    case 'ArrowRight':
      return row[at + 1]?.trip ?? null;
    case 'Home':
      return (board ? lines[0]?.[0] : row[0])?.trip ?? null;
    case 'End': {
      const last = board ? lines[lines.length - 1] : row;
      return last?.[last.length - 1]?.trip ?? null;
    }
    case 'ArrowUp':
    case 'ArrowDown': {
      const next = lines[line + (key === 'ArrowUp' ? -1 : 1)];
      if (next === undefined) return null;
      const nearest = next.reduce((best, t) =>
        Math.abs(t.start - here.start) < Math.abs(best.start - here.start) ? t : best,
      );
      return nearest.trip;
    }
  }
}

// --- rows in view -------------------------------------------------------------------------------------------------

/**
 * The rows whose items the timeline holds: those in view and `margin` rows either side (in the rows' order, `ids`);
 * before anything is in view (the first draw), the first `first` rows. The timeline draws every item of its data set
 * that falls in the time shown, in every row, seen or not: a day's worth of items for three hundred vehicles would
 * be drawn and measured each time the board loads, where some twenty rows are seen.
 */
export function rowsAround(
  ids: readonly number[],
  visible: ReadonlySet<number>,
  margin: number,
  first: number,
): Set<number> {
  let from = -1;
  let to = -1;
  ids.forEach((id, index) => {
    if (!visible.has(id)) return;
    if (from < 0) from = index;
    to = index;
  });
  if (from < 0) return new Set(ids.slice(0, first));
  return new Set(ids.slice(Math.max(0, from - margin), to + margin + 1));
}

export function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

// --- updating a data set in place ----------------------------------------------------------------------------------

type Id = string | number;

/** What `sync` needs of a data set (vis-data's `DataSet` has it). */
export interface Store<T extends { id: Id }> {
  get(id: Id): T | null;
  getIds(): Id[];
  update(data: T[]): unknown;
  remove(ids: Id[]): unknown;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * Make `store` hold exactly `next`: add what is new, update what changed, remove what is gone, and leave what is the
 * same untouched (so the timeline redraws only those). Returns how many of each.
 */
export function sync<T extends { id: Id }>(
  store: Store<NoInfer<T>>,
  next: readonly T[],
): { added: number; updated: number; removed: number } {
  const keep = new Set<Id>();
  const changed: T[] = [];
  let added = 0;
  for (const row of next) {
    keep.add(row.id);
    const current = store.get(row.id);
    if (current === null) {
      added += 1;
      changed.push(row);
    } else if (!same(current, row)) {
      changed.push(row);
    }
  }
  const gone = store.getIds().filter((id) => !keep.has(id));
  if (gone.length > 0) store.remove(gone);
  if (changed.length > 0) store.update(changed);
  return { added, updated: changed.length - added, removed: gone.length };
}
