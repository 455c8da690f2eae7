import { DataSet } from 'vis-data/peer';
import { describe, expect, it } from 'vitest';

import type { Trip } from '../api';
import { chinaTime, formatChinaWindow } from '../time';
import {
  chinaInstant,
  chinaParts,
  chinaWindow,
  dayWindow,
  facets,
  groupsOf,
  isDay,
  itemsOf,
  NO_FILTERS,
  orderQueue,
  priorityRank,
  rowsAround,
  sameSet,
  shiftDay,
  stepTrip,
  sync,
  timelineData,
  todayInChina,
  tripOrder,
  type Labeller,
  type TripPlace,
} from './board';
import type { Board, BoardVehicle, CalendarItem } from './types';

const labelOf: Labeller = (vocabulary, value) => `${vocabulary}:${value}`;
const WORDS = { noDriver: 'no driver', sealed: '封存', workshop: '维修' };

function vehicle(id: number, overrides: Partial<BoardVehicle> = {}): BoardVehicle {
  return {
    id,
    plate: `鄂A0000${id}`,
    model: 'model',
    agency: 'WH-GA',
    category: 'law_enforcement',
    powertrain: 'ice',
    seats: 5,
    status: 'active',
    home_lat: 30.5928,
    home_lon: 114.3055,
    drivers: [],
    ...overrides,
  };
}

function assignment(id: number, vehicleId: number, overrides: Partial<CalendarItem> = {}): CalendarItem {
  return {
    id: `a${id}`,
    vehicle_id: vehicleId,
    kind: 'assignment',
    start: '2030-03-12T09:00:00+08:00',
    end: '2030-03-12T10:15:00+08:00',
    trip_id: 100 + id,
    priority: 'law_enforcement',
    status: 'assigned',
    purpose: '执法检查',
    driver: 'driver-a',
    agency: 'WH-GA',
    ...overrides,
  };
}

function period(id: string, vehicleId: number, kind: 'sealed' | 'workshop', start: string, end: string): CalendarItem {
  return { id, vehicle_id: vehicleId, kind, start, end };
}

function trip(id: number, priority: string, earliest: string): Trip {
  return {
    id,
    agency: 'WH-GA',
    purpose: 'p',
    priority,
    categories: [],
    passengers: 1,
    pickup: { lat: 30.6, lon: 114.3, address: 'a' },
    dropoff: { lat: 30.7, lon: 114.4, address: 'b' },
    earliest_pickup: earliest,
    latest_pickup: earliest,
    dwell_min: 0,
    planned_km: 10,
    status: 'approved',
    decision_note: null,
    dispatch_note: null,
    requested_by: null,
    assignment: null,
    started_at: null,
    completed_at: null,
    created_at: earliest,
  };
}

describe('days in China time', () => {
  it('is today in Shanghai, not in the browser (the tests run in New York)', () => {
    // 2030-03-12 20:30 in New York (EDT, UTC-4) is already 2030-03-13 08:30 in China.
    expect(todayInChina(new Date('2030-03-13T00:30:00Z'))).toBe('2030-03-13');
    expect(todayInChina(new Date('2030-03-12T15:59:00Z'))).toBe('2030-03-12');
    expect(todayInChina(new Date('2030-03-12T16:00:00Z'))).toBe('2030-03-13');
  });

  it('shifts by calendar days across months and leap days', () => {
    expect(shiftDay('2030-03-12', 1)).toBe('2030-03-13');
    expect(shiftDay('2030-03-01', -1)).toBe('2030-02-28');
    expect(shiftDay('2028-02-28', 1)).toBe('2028-02-29');
    expect(shiftDay('2030-12-31', 1)).toBe('2031-01-01');
  });

  it('is a whole day from midnight to midnight at +08:00', () => {
    expect(dayWindow('2030-03-12')).toEqual({
      start: '2030-03-12T00:00:00+08:00',
      end: '2030-03-13T00:00:00+08:00',
    });
    expect(chinaInstant('2030-03-12', '09:30')).toBe('2030-03-12T09:30:00+08:00');
  });

  it('takes only days that exist', () => {
    expect(isDay('2030-03-12')).toBe(true);
    expect(isDay('2030-02-30')).toBe(false);
    expect(isDay('2030-3-12')).toBe(false);
    expect(isDay(null)).toBe(false);
  });
});

describe('China time by arithmetic', () => {
  it('is the same as the Intl-based helpers for instants across years, days and offsets', () => {
    let at = Date.parse('1995-01-01T00:00:00Z');
    for (let i = 0; i < 3000; i++) {
      at += 7_777_777; // about 2 h 10 min: every hour of the day, over several months
      expect(chinaParts(at)).toEqual(chinaTime(new Date(at)));
    }
    expect(chinaParts('2030-03-12T23:59:00+08:00')).toEqual({ date: '2030-03-12', time: '23:59' });
  });

  it('writes windows as formatChinaWindow does', () => {
    for (const [a, b] of [
      ['2030-03-12T09:00:00+08:00', '2030-03-12T09:30:00+08:00'],
      ['2030-03-12T23:30:00+08:00', '2030-03-13T00:30:00+08:00'],
      ['2030-03-12T01:00:00Z', '2030-03-12T16:00:00Z'],
    ] as const) {
      expect(chinaWindow(a, b)).toBe(formatChinaWindow(a, b));
    }
  });
});

describe('the queue', () => {
  it('puts emergencies first, then law enforcement, then routine, each by earliest pickup', () => {
    const ordered = orderQueue([
      trip(1, 'routine', '2030-03-12T08:00:00+08:00'),
      trip(2, 'law_enforcement', '2030-03-12T10:00:00+08:00'),
      trip(3, 'emergency', '2030-03-12T15:00:00+08:00'),
      trip(4, 'law_enforcement', '2030-03-12T09:00:00+08:00'),
      trip(5, 'emergency', '2030-03-12T11:00:00+08:00'),
    ]);
    expect(ordered.map((t) => t.id)).toEqual([5, 3, 4, 2, 1]);
  });

  it('ranks an unknown priority last', () => {
    expect(priorityRank('emergency')).toBeLessThan(priorityRank('routine'));
    expect(priorityRank('something_new')).toBeGreaterThan(priorityRank('routine'));
  });
});

describe('rows', () => {
  const vehicles = [
    vehicle(1, { agency: 'WH-GA', category: 'law_enforcement', plate: '鄂A00002', drivers: ['driver-a', 'pool-day'] }),
    vehicle(2, { agency: 'WH-CG', category: 'general', powertrain: 'bev', status: 'maintenance' }),
    vehicle(3, { agency: 'WH-GA', category: 'emergency', plate: '鄂A00001', status: 'sealed' }),
    vehicle(4, { agency: 'WH-GA', category: 'law_enforcement', plate: '鄂A00001' }),
  ];

  it('are one per vehicle, ordered by agency, category and plate, labelled with the vocabularies', () => {
    const groups = groupsOf(vehicles, NO_FILTERS, labelOf, WORDS);
    expect(groups.map((g) => g.id)).toEqual([2, 3, 4, 1]);
    expect(groups.map((g) => g.order)).toEqual([0, 1, 2, 3]);
    const first = groups.find((g) => g.id === 1);
    expect(first).toMatchObject({
      plate: '鄂A00002',
      content: '鄂A00002',
      detail: 'category:law_enforcement · powertrain:ice · WH-GA',
      drivers: 'driver-a、pool-day',
    });
    expect(groups.find((g) => g.id === 4)?.drivers).toBe('no driver');
  });

  it('are filtered by agency, category and status on the client', () => {
    const ids = (filters: Partial<typeof NO_FILTERS>) =>
      groupsOf(vehicles, { ...NO_FILTERS, ...filters }, labelOf, WORDS).map((g) => g.id);
    expect(ids({ agencies: ['WH-CG'] })).toEqual([2]);
    expect(ids({ categories: ['law_enforcement'] })).toEqual([4, 1]);
    expect(ids({ statuses: ['active'] })).toEqual([4, 1]);
    expect(ids({ agencies: ['WH-GA'], statuses: ['sealed', 'maintenance'] })).toEqual([3]);
    expect(ids({ agencies: ['NOWHERE'] })).toEqual([]);
  });

  it('offer as filters the values present on the board', () => {
    expect(facets(vehicles)).toEqual({
      agencies: ['WH-CG', 'WH-GA'],
      categories: ['emergency', 'general', 'law_enforcement'],
      statuses: ['active', 'maintenance', 'sealed'],
    });
  });
});

describe('items', () => {
  it('are assignments coloured by priority, movable only while the trip waits for its vehicle', () => {
    const items = itemsOf(
      [
        assignment(1, 1, { priority: 'emergency' }),
        assignment(2, 1, {
          status: 'in_progress',
          start: '2030-03-12T11:00:00+08:00',
          end: '2030-03-12T12:00:00+08:00',
        }),
      ],
      new Set([1]),
      labelOf,
      WORDS,
    );
    expect(items[0]).toMatchObject({
      id: 'a1',
      group: 1,
      type: 'range',
      trip_id: 101,
      start: Date.parse('2030-03-12T01:00:00Z'),
      end: Date.parse('2030-03-12T02:15:00Z'),
      className: 'gc-trip gc-priority-emergency gc-trip-assigned gc-movable',
      editable: false, // the timeline's own dragging is off: the board moves trips by drag and drop
    });
    expect(items[0]?.content).toBe('#101 执法检查');
    expect(items[0]?.text).toBe('#101 执法检查');
    expect(items[0]?.title).toContain('09:00–10:15'); // China time, whatever the zone of the machine
    expect(items[1]?.className).toBe('gc-trip gc-priority-law_enforcement gc-trip-in_progress');
  });

  it('show sealed and workshop periods as backgrounds of their row', () => {
    const items = itemsOf(
      [
        period('s3', 3, 'sealed', '2030-03-12T00:00:00+08:00', '2030-03-13T00:00:00+08:00'),
        period('w9', 2, 'workshop', '2030-03-12T08:00:00+08:00', '2030-03-12T17:00:00+08:00'),
      ],
      new Set([2, 3]),
      labelOf,
      WORDS,
    );
    expect(items.map((i) => [i.id, i.type, i.className, i.content, i.editable, i.selectable])).toEqual([
      ['s3', 'background', 'gc-period gc-period-sealed', '封存', false, false],
      ['w9', 'background', 'gc-period gc-period-workshop', '维修', false, false],
    ]);
  });

  it("escape the requester's text (the timeline writes content as HTML)", () => {
    const planted = assignment(1, 1, { purpose: '<img src=x onerror=alert(1)>' });
    const [item] = itemsOf([planted], new Set([1]), labelOf, WORDS);
    expect(item?.content).not.toContain('<');
    expect(item?.content).toContain('&#60;img');
    expect(item?.text).toBe('#101 <img src=x onerror=alert(1)>'); // drawn as text, never as HTML
  });

  it('are those of the vehicles shown only', () => {
    const board: Board = {
      day: '2030-03-12',
      start: '2030-03-12T00:00:00+08:00',
      end: '2030-03-13T00:00:00+08:00',
      vehicles: [vehicle(1), vehicle(2, { agency: 'WH-CG' })],
      items: [assignment(1, 1), assignment(2, 2)],
      queue: [],
    };
    const { groups, items } = timelineData(board, { ...NO_FILTERS, agencies: ['WH-CG'] }, labelOf, WORDS);
    expect(groups.map((g) => g.id)).toEqual([2]);
    expect(items.map((i) => i.id)).toEqual(['a2']);
  });
});

describe("a trip's accessible name", () => {
  it('says the trip and its vehicle, in the words it is given', () => {
    const board: Board = {
      day: '2030-03-12',
      start: '2030-03-12T00:00:00+08:00',
      end: '2030-03-13T00:00:00+08:00',
      vehicles: [vehicle(1)],
      items: [assignment(1, 1), period('s3', 1, 'sealed', '2030-03-12T18:00:00+08:00', '2030-03-12T20:00:00+08:00')],
      queue: [],
    };
    const tripLabel = (p: { id: number; purpose: string; plate: string; window: string }) =>
      `trip #${p.id} ${p.purpose}, vehicle ${p.plate}, ${p.window}`;
    const { items } = timelineData(board, NO_FILTERS, labelOf, { ...WORDS, tripLabel });
    expect(items.map((i) => i.label)).toEqual(['trip #101 执法检查, vehicle 鄂A00001, 09:00–10:15', '封存 18:00–20:00']);
    // Without the words: the same facts, joined.
    expect(timelineData(board, NO_FILTERS, labelOf, WORDS).items[0]?.label).toBe(
      '#101 执法检查 · 鄂A00001 · 09:00–10:15 · priority:law_enforcement · trip_status:assigned · driver-a · WH-GA',
    );
  });
});

describe('the keyboard on the board', () => {
  // Rows 1, 2 (no trips), 3; trips by their start in minutes.
  const rows = [1, 2, 3];
  const trips: TripPlace[] = [
    { trip: 12, row: 1, start: 600 },
    { trip: 11, row: 1, start: 540 },
    { trip: 31, row: 3, start: 560 },
    { trip: 32, row: 3, start: 900 },
  ];

  it('reads the trips row by row, each row by start', () => {
    expect(tripOrder(rows, trips).map((t) => t.trip)).toEqual([11, 12, 31, 32]);
    expect(tripOrder([3, 1], trips).map((t) => t.trip)).toEqual([31, 32, 11, 12]);
  });

  it('goes along a row with left and right, and stays at its ends', () => {
    expect(stepTrip(rows, trips, 11, 'ArrowRight')).toBe(12);
    expect(stepTrip(rows, trips, 12, 'ArrowLeft')).toBe(11);
    expect(stepTrip(rows, trips, 12, 'ArrowRight')).toBeNull();
    expect(stepTrip(rows, trips, 11, 'ArrowLeft')).toBeNull();
  });

  it('goes up and down to the next row with trips, to the trip nearest in time', () => {
    expect(stepTrip(rows, trips, 11, 'ArrowDown')).toBe(31); // row 2 holds none
    expect(stepTrip(rows, trips, 12, 'ArrowDown')).toBe(31);
    expect(stepTrip(rows, trips, 32, 'ArrowUp')).toBe(12);
    expect(stepTrip(rows, trips, 31, 'ArrowDown')).toBeNull();
    expect(stepTrip(rows, trips, 11, 'ArrowUp')).toBeNull();
  });

  it("goes to a row's ends with Home and End, and to the board's with Ctrl", () => {
    expect(stepTrip(rows, trips, 32, 'Home')).toBe(31);
    expect(stepTrip(rows, trips, 11, 'End')).toBe(12);
    expect(stepTrip(rows, trips, 32, 'Home', true)).toBe(11);
    expect(stepTrip(rows, trips, 11, 'End', true)).toBe(32);
  });

  it('starts at the first trip from one no longer on the board', () => {
    expect(stepTrip(rows, trips, 99, 'ArrowDown')).toBe(11);
    expect(stepTrip(rows, [], 99, 'ArrowDown')).toBeNull();
  });
});

describe('rows in view', () => {
  const ids = Array.from({ length: 100 }, (_, i) => i + 1);

  it('are those seen and a margin either side, in the rows\' order', () => {
    expect([...rowsAround(ids, new Set([40, 41, 42]), 3, 20)]).toEqual([37, 38, 39, 40, 41, 42, 43, 44, 45]);
    expect([...rowsAround(ids, new Set([1, 2]), 3, 20)]).toEqual([1, 2, 3, 4, 5]);
    expect([...rowsAround(ids, new Set([100]), 3, 20)]).toEqual([97, 98, 99, 100]);
  });

  it('are the first rows before anything is seen, and ignore rows no longer there', () => {
    expect([...rowsAround(ids, new Set(), 3, 5)]).toEqual([1, 2, 3, 4, 5]);
    expect([...rowsAround(ids, new Set([999]), 3, 2)]).toEqual([1, 2]);
    expect([...rowsAround([], new Set([1]), 3, 5)]).toEqual([]);
  });

  it('are compared as sets', () => {
    expect(sameSet(new Set([1, 2]), new Set([2, 1]))).toBe(true);
    expect(sameSet(new Set([1, 2]), new Set([1, 3]))).toBe(false);
    expect(sameSet(new Set([1]), new Set([1, 2]))).toBe(false);
  });
});

describe('updating the data sets in place', () => {
  it('adds, updates and removes only what changed, keeping the same data set', () => {
    const set = new DataSet<{ id: string; group: number; content: string }>();
    expect(sync(set, [{ id: 'a1', group: 1, content: 'x' }, { id: 'a2', group: 2, content: 'y' }])).toEqual({
      added: 2,
      updated: 0,
      removed: 0,
    });
    const events: string[] = [];
    set.on('*', (event) => events.push(event));
    // the same board again: nothing at all is touched (no redraw)
    expect(sync(set, [{ id: 'a1', group: 1, content: 'x' }, { id: 'a2', group: 2, content: 'y' }])).toEqual({
      added: 0,
      updated: 0,
      removed: 0,
    });
    expect(events).toEqual([]);
    // a2 moved to vehicle 3, a1 was unassigned, a3 is new
    expect(sync(set, [{ id: 'a2', group: 3, content: 'y' }, { id: 'a3', group: 1, content: 'z' }])).toEqual({
      added: 1,
      updated: 1,
      removed: 1,
    });
    expect(set.get({ order: 'id' }).map((i) => [i.id, i.group])).toEqual([
      ['a2', 3],
      ['a3', 1],
    ]);
    expect(events).toEqual(['remove', 'add', 'update']);
  });

  it('builds 300 rows and 1,000 items, and re-syncs an unchanged board, quickly', () => {
    const vehicles = Array.from({ length: 300 }, (_, i) =>
      vehicle(i + 1, { plate: `鄂A${String(i).padStart(5, '0')}` }),
    );
    const items = Array.from({ length: 1000 }, (_, i) =>
      assignment(i + 1, (i % 300) + 1, {
        start: new Date(Date.parse('2030-03-12T00:00:00+08:00') + (i % 20) * 3_600_000).toISOString(),
        end: new Date(Date.parse('2030-03-12T00:45:00+08:00') + (i % 20) * 3_600_000).toISOString(),
      }),
    );
    const board: Board = { day: '2030-03-12', start: '', end: '', vehicles, items, queue: [] };
    const started = performance.now();
    const data = timelineData(board, NO_FILTERS, labelOf, WORDS);
    const groups = new DataSet(data.groups);
    const set = new DataSet(data.items);
    const again = timelineData(board, NO_FILTERS, labelOf, WORDS);
    expect(sync(groups, again.groups)).toEqual({ added: 0, updated: 0, removed: 0 });
    expect(sync(set, again.items)).toEqual({ added: 0, updated: 0, removed: 0 });
    expect(data.groups).toHaveLength(300);
    expect(data.items).toHaveLength(1000);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
