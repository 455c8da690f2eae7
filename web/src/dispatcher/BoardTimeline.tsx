import { useEffect, useRef } from 'react';
import { DataSet } from 'vis-data/peer';
import { Timeline, type TimelineOptions } from 'vis-timeline/peer';
import 'vis-timeline/styles/vis-timeline-graph2d.css';

import type { Language } from '../i18n';
import { CHINA_TIMELINE } from '../timeline';
import {
  dayWindow,
  DRAG_FORMAT,
  isTripKey,
  rowsAround,
  sameSet,
  stepTrip,
  sync,
  tripOrder,
  type BoardItem,
  type DraggedTrip,
  type TripPlace,
  type VehicleGroup,
} from './board';

/** UTC+8 all year: China has no daylight saving, so a fixed offset is China time whatever the browser's zone. */
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
/** Items arriving at once beyond which they are added out of view (see `applyItems`). */
const BULK = 40;
/** Rows either side of those in view whose items the timeline holds (scrolling a little draws nothing new). */
const MARGIN_ROWS = 8;
/** A row's height in pixels (dispatcher.css `.gc-group`, with the timeline's margins): to guess the rows in view. */
const ROW_PX = 54;

/** A trip's box in the timeline (the board's own element inside vis-timeline's item): the keyboard's stop. */
const TRIP_BOX = '.gc-item-text[data-trip]';
/** How long a trip the keyboard went to may take to be drawn before the focus is no longer moved to it: long
 * enough for a busy machine (2 s was missed under CI's load, the focus left on the timeline); a user who moves the
 * focus elsewhere meanwhile ends the wait anyway. */
const FOCUS_WAIT_MS = 10000;
/** When the focus goes to that trip whether or not the timeline has drawn its row level with its label yet. */
const FOCUS_ANYWAY_MS = 300;

/**
 * An item's box as the board draws it (vis-timeline's `template`): its words as text; a trip is a button named with
 * its trip and vehicle (`label`) that opens its details when clicked, or with Enter or Space (see the keyboard in
 * `BoardTimeline`), and one still waiting for its vehicle is a native drag source, so that moving it to another row is
 * the same drop as a queue trip's. The timeline's own item dragging is off (in this version a second drag of an item
 * after a move does not start), and the timeline does not see a press on a trip (it would cancel the native drag).
 *
 * The same element serves an item from one draw to the next, brought up to date: the timeline keeps an element it
 * is given again, where a new one would replace the old, and with it the keyboard's focus.
 */
function itemBox(
  item: BoardItem,
  boxes: Map<string, HTMLElement>,
  current: (id: string) => BoardItem | null,
  onOpen: (tripId: number) => void,
): HTMLElement {
  const tripId = item.type === 'range' ? item.trip_id : null;
  let box = boxes.get(item.id);
  if (!box) {
    box = document.createElement('div');
    box.className = 'gc-item-text';
    boxes.set(item.id, box);
    if (tripId !== null) {
      box.setAttribute('role', 'button');
      box.tabIndex = -1; // the one stop of the timeline is set once drawn (`BoardTimeline`'s `syncStop`)
      box.dataset.trip = String(tripId);
      box.addEventListener('pointerdown', (event) => event.stopPropagation());
      box.addEventListener('click', (event) => {
        event.stopPropagation();
        onOpen(tripId);
      });
      box.addEventListener('dragstart', (event) => {
        const now = current(item.id);
        if (!now) return;
        const dragged: DraggedTrip = {
          id: `m${tripId}`,
          type: 'range',
          content: now.content,
          start: new Date(now.start).toISOString(),
          end: new Date(now.end).toISOString(),
          target: 'group',
          trip_id: tripId,
          moving: true,
        };
        event.dataTransfer?.setData(DRAG_FORMAT, JSON.stringify(dragged));
        if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
      });
    }
  }
  if (box.textContent !== item.text) box.textContent = item.text;
  if (tripId !== null) {
    box.setAttribute('aria-label', item.label);
    box.draggable = item.className.includes('gc-movable');
  }
  return box;
}

interface Places {
  rows: number[];
  trips: TripPlace[];
  items: Map<number, BoardItem>;
  order: number[];
  rank: Map<number, number>;
}

const NO_PLACES: Places = { rows: [], trips: [], items: new Map(), order: [], rank: new Map() };

export interface BoardTimelineProps {
  day: string;
  groups: VehicleGroup[];
  items: BoardItem[];
  language: Language;
  /** The timeline's accessible name, and the id of the text that says how to work it. */
  label: string;
  describedBy: string;
  /** Assign a trip to a vehicle (dropped from the queue, or moved from another row); true when it was done. */
  onAssign: (tripId: number, vehicleId: number, how: 'drop' | 'move') => Promise<boolean>;
  onOpenTrip: (tripId: number) => void;
  onVehicle: (vehicleId: number) => void;
}

/** The rows the timeline shows now (its `getVisibleGroups`, which its type declarations lack). */
function visibleGroups(timeline: Timeline | null): (string | number)[] {
  const shown = timeline as unknown as { getVisibleGroups?: () => (string | number)[] } | null;
  return shown?.getVisibleGroups?.() ?? [];
}

/** The label of a vehicle row, built as DOM (not HTML text): plate, category · powertrain · agency, drivers. */
function groupLabel(group: VehicleGroup): HTMLElement {
  const box = document.createElement('div');
  box.className = 'gc-group';
  box.dataset.vehicle = String(group.id);
  box.dataset.plate = group.plate;
  box.title = group.title;
  const plate = document.createElement('div');
  plate.className = 'gc-plate';
  plate.textContent = group.plate;
  const detail = document.createElement('div');
  detail.className = 'gc-detail';
  detail.textContent = group.detail;
  const drivers = document.createElement('div');
  drivers.className = 'gc-drivers';
  drivers.textContent = group.drivers;
  box.append(plate, detail, drivers);
  return box;
}

/**
 * The day board's timeline: one vis-timeline for the component's whole life, whose two data sets (rows and items)
 * are updated in place with what changed when the board refetches. Rows have a fixed height and items do not stack
 * (a vehicle holds one trip at a time); the rows scroll inside `maxHeight` (`verticalScroll`), and the item data set
 * holds only the items of the rows in view and a margin around them (`applyItems`), brought in as they scroll into
 * view: the timeline would otherwise draw and measure every item of the day in every row, seen or not.
 */
export default function BoardTimeline({
  day,
  groups,
  items,
  language,
  label,
  describedBy,
  onAssign,
  onOpenTrip,
  onVehicle,
}: BoardTimelineProps) {
  const container = useRef<HTMLDivElement>(null);
  const timeline = useRef<Timeline | null>(null);
  const groupSet = useRef(new DataSet<VehicleGroup>());
  const itemSet = useRef(new DataSet<BoardItem>());
  // The latest callbacks, read by the timeline's handlers (which are bound once).
  const handlers = useRef({ onAssign, onOpenTrip, onVehicle });
  handlers.current = { onAssign, onOpenTrip, onVehicle };
  // The board as last given, and the rows (vehicle ids) whose items the timeline holds now.
  const latest = useRef<{ groups: VehicleGroup[]; items: BoardItem[] }>({ groups: [], items: [] });
  const rows = useRef<ReadonlySet<number>>(new Set());
  // Each item's box (see `itemBox`), and the trips' places on the board, for the keyboard: the rows, each trip's
  // place and item, and the trips in reading order (`tripOrder`) with each one's rank in it.
  const boxes = useRef(new Map<string, HTMLElement>());
  const places = useRef<Places>(NO_PLACES);
  // The keyboard: the trip that is the timeline's one Tab stop (the last one focused), a trip to focus once it is
  // drawn (the arrow keys went to it), and its row, whose items are held even when out of view.
  const stop = useRef<number | null>(null);
  const pending = useRef<{ trip: number; since: number } | null>(null);
  const pinned = useRef<number | null>(null);

  /** The rows in view now, with their margin (see `rowsAround`); before the first draw, the screenful at the top. */
  const rowsNow = (current: Timeline | null): Set<number> => {
    const around = rowsAround(
      latest.current.groups.map((g) => g.id),
      new Set(visibleGroups(current).map(Number)),
      MARGIN_ROWS,
      Math.ceil((container.current?.clientHeight || window.innerHeight) / ROW_PX) + MARGIN_ROWS,
    );
    const row = pinned.current;
    if (row !== null && latest.current.groups.some((g) => g.id === row)) around.add(row);
    return around;
  };

  /** Put into the timeline the items of the rows in view and around them, and only those. */
  const applyItems = useRef((current: Timeline | null) => {
    const next = rowsNow(current);
    rows.current = next;
    const wanted = latest.current.items.filter((i) => next.has(i.group));
    const arriving = wanted.reduce((n, i) => n + (itemSet.current.get(i.id) === null ? 1 : 0), 0);
    const held = new Set(wanted.map((i) => i.id));
    for (const id of boxes.current.keys()) if (!held.has(id)) boxes.current.delete(id);
    if (!current || arriving < BULK) {
      sync(itemSet.current, wanted);
      return;
    }
    // The timeline draws an item the moment it is added if its time is in view, measuring it in the page each
    // time. Many arriving at once (a board read whole: the first, another day, a filter) are added with the view
    // moved away for an instant; back in view, the timeline draws them in one pass.
    const { start, end } = current.getWindow();
    const away = start.getTime() - 30 * DAY;
    current.setWindow(away, away + (end.getTime() - start.getTime()), { animation: false });
    sync(itemSet.current, wanted);
    current.setWindow(start, end, { animation: false });
  });

  useEffect(() => {
    if (!container.current) return;
    const span = dayWindow(day);
    const options: TimelineOptions = {
      ...CHINA_TIMELINE,
      start: span.start,
      end: span.end,
      zoomMin: 30 * 60 * 1000,
      zoomMax: 3 * 24 * HOUR,
      orientation: 'top',
      stack: false,
      groupHeightMode: 'fixed',
      groupOrder: 'order',
      groupTemplate: (group?: VehicleGroup) => (group ? groupLabel(group) : ''),
      verticalScroll: true,
      horizontalScroll: true,
      zoomKey: 'ctrlKey',
      maxHeight: 'calc(100vh - 250px)',
      minHeight: 320,
      margin: { item: { horizontal: 0, vertical: 6 }, axis: 4 },
      selectable: true,
      multiselect: false,
      showCurrentTime: true,
      dataAttributes: ['id', 'trip_id'],
      template: (item?: BoardItem) =>
        item
          ? itemBox(
              item,
              boxes.current,
              (id) => itemSet.current.get(id),
              (tripId) => {
                stop.current = tripId;
                handlers.current.onOpenTrip(tripId);
              },
            )
          : '',
      // `add` lets a drop from outside through (the only way items come); nothing is moved or removed in place.
      editable: { add: true, updateTime: false, updateGroup: false, remove: false, overrideItems: false },
      // A trip dropped onto a row, from the queue or from another row: assign it there. The dropped shape itself is
      // never added (nor anything a double click would add): the assignment comes back with the board.
      onAdd: (item, callback) => {
        const dropped = item as unknown as Partial<DraggedTrip> & { group?: number };
        callback(null);
        if (typeof dropped.trip_id !== 'number' || typeof dropped.group !== 'number') return;
        const from = dropped.moving ? itemSet.current.get({ filter: (i) => i.trip_id === dropped.trip_id })[0] : null;
        if (from && from.group === dropped.group) return; // dropped back on its own row
        void handlers.current.onAssign(dropped.trip_id, dropped.group, dropped.moving ? 'move' : 'drop');
      },
    };
    const created = new Timeline(container.current, itemSet.current, groupSet.current, options);
    // vis-timeline shows itself (it is `visibility: hidden` until then, its trips out of the keyboard's reach too) at
    // its first draw after its first `rangechanged`, 200 ms after its window was set. A board that arrived sooner
    // (read ahead as the page loaded) leaves nothing to draw after that, and the timeline would stay hidden: draw it
    // once more then.
    let settled = false;
    created.on('rangechanged', () => {
      if (settled) return;
      settled = true;
      created.redraw();
    });
    created.on('click', (props: { group?: number | null; what?: string | null }) => {
      if (props.what === 'group-label' && props.group != null) handlers.current.onVehicle(props.group);
    });
    const box = container.current;

    // The keyboard (vis-timeline has none for its items): Tab reaches the timeline at one trip, the arrow keys move
    // between trips (`stepTrip`), Enter and Space open a trip's details as a click does.
    const tripItem = (trip: number) => places.current.items.get(trip);
    /** Whether a trip is in view now: its row among those shown, its time within the window. */
    const viewed = () => {
      const { start, end } = created.getWindow();
      const rowsShown = new Set(visibleGroups(created).map(Number));
      return (trip: number) => {
        const item = tripItem(trip);
        if (item === undefined || !rowsShown.has(item.group)) return false;
        return item.end > start.getTime() && item.start < end.getTime();
      };
    };
    const drawnBox = (trip: number) => box.querySelector<HTMLElement>(`${TRIP_BOX}[data-trip="${trip}"]`);

    /**
     * One trip's box takes Tab: the one focused last if it is in view, else the first in view, else the first. The
     * timeline draws the trips of the rows in view only: with none drawn, the timeline itself takes Tab, and passes
     * the focus on to a trip (`onFocusIn`).
     */
    const syncStop = () => {
      const drawn = [...box.querySelectorAll<HTMLElement>(TRIP_BOX)];
      const itself = drawn.length === 0 && places.current.trips.length > 0 ? 0 : -1;
      if (box.tabIndex !== itself) box.tabIndex = itself;
      if (drawn.length === 0) return;
      // Run on every draw (a scroll draws many): the drawn boxes only are looked at, a few rows' worth.
      const trips = drawn.map((b) => Number(b.dataset.trip));
      const focused = drawn.find((b) => b === document.activeElement);
      const seen = viewed();
      let target: number | null = focused ? Number(focused.dataset.trip) : stop.current;
      if (target === null || !trips.includes(target) || !seen(target)) {
        const rank = (trip: number) => places.current.rank.get(trip) ?? Number.MAX_SAFE_INTEGER;
        const ranked = [...trips].sort((a, b) => rank(a) - rank(b));
        target = ranked.find(seen) ?? ranked[0] ?? null;
      }
      for (const each of drawn) {
        const tabIndex = Number(each.dataset.trip) === target ? 0 : -1;
        if (each.tabIndex !== tabIndex) each.tabIndex = tabIndex;
      }
    };

    /** Bring a row into view the timeline's way: by scrolling its labels, which the timeline's rows follow. */
    const showRow = (row: number) => {
      const rowLabel = box.querySelector(`.vis-label .gc-group[data-vehicle="${row}"]`)?.closest('.vis-label');
      rowLabel?.scrollIntoView({ block: 'nearest' });
    };

    /** Whether a trip's bar is drawn level with its row's label: the timeline has caught up with the labels' scroll. */
    const level = (target: HTMLElement, row: number) => {
      const drawnRow = target.closest('.vis-group')?.getBoundingClientRect();
      const rowLabel = box.querySelector(`.vis-label .gc-group[data-vehicle="${row}"]`)?.closest('.vis-label');
      const labelled = rowLabel?.getBoundingClientRect();
      return drawnRow !== undefined && labelled !== undefined && Math.abs(drawnRow.top - labelled.top) < 2;
    };

    /**
     * Focus the trip the keys went to once it is drawn in view, level with its label (the timeline draws after its
     * labels scrolled); `anyway`, once drawn at all.
     */
    const focusPending = (anyway = false) => {
      const waiting = pending.current;
      if (waiting === null) return;
      // Not once the user has gone elsewhere meanwhile (the focus is taken from no one).
      if (Date.now() - waiting.since > FOCUS_WAIT_MS || !box.contains(document.activeElement)) {
        pending.current = null;
        return;
      }
      const target = drawnBox(waiting.trip);
      const item = tripItem(waiting.trip);
      if (!target || !item) return;
      if (!anyway && !(viewed()(waiting.trip) && level(target, item.group))) return;
      pending.current = null;
      stop.current = waiting.trip;
      syncStop();
      target.focus({ preventScroll: true }); // the timeline scrolled to it already; the browser would scroll its panel
      // A timeline not shown yet (vis-timeline is `visibility: hidden` until its first settled draw, later on a busy
      // machine) takes no focus: the focus stays on the timeline, and the trip waits for the draw that shows it.
      if (document.activeElement !== target) pending.current = waiting;
    };

    let lateFocus = 0;
    const goTo = (trip: number) => {
      const item = tripItem(trip);
      if (!item) return;
      stop.current = trip;
      pinned.current = item.group;
      if (!rows.current.has(item.group)) applyItems.current(created);
      showRow(item.group); // the timeline counts a row a few pixels out of view as shown: the label says for sure
      const { start, end } = created.getWindow();
      if (item.end <= start.getTime() || item.start >= end.getTime()) {
        created.moveTo(new Date((item.start + item.end) / 2), { animation: false });
      }
      pending.current = { trip, since: Date.now() };
      focusPending();
      window.clearTimeout(lateFocus);
      lateFocus = window.setTimeout(() => focusPending(true), FOCUS_ANYWAY_MS);
    };

    const onKeyDown = (event: KeyboardEvent) => {
      const target = (event.target as Element | null)?.closest<HTMLElement>(TRIP_BOX);
      if (!target) return;
      const trip = Number(target.dataset.trip);
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault(); // Space would scroll the page
        handlers.current.onOpenTrip(trip);
        return;
      }
      if (!isTripKey(event.key)) return;
      event.preventDefault();
      const next = stepTrip(places.current.rows, places.current.trips, trip, event.key, event.ctrlKey || event.metaKey);
      if (next !== null && next !== trip) goTo(next);
    };

    const onFocusIn = (event: FocusEvent) => {
      if (event.target === box) {
        const last = stop.current;
        const trip = last !== null && places.current.rank.has(last) ? last : places.current.order[0];
        if (trip !== undefined) goTo(trip);
        return;
      }
      const target = (event.target as Element | null)?.closest<HTMLElement>(TRIP_BOX);
      if (!target) return;
      const trip = Number(target.dataset.trip);
      stop.current = trip;
      // Focus by Tab scrolls the focused box into view, the timeline's centre panel too, which the timeline itself
      // moves by an offset of its own (its rows would no longer line up with their labels): undo that, and show the
      // row the timeline's way.
      const centre = box.querySelector<HTMLElement>('.vis-panel.vis-center');
      const scrolled = centre !== null && (centre.scrollTop !== 0 || centre.scrollLeft !== 0);
      if (centre && scrolled) {
        centre.scrollTop = 0;
        centre.scrollLeft = 0;
      }
      // A trip reached from the keyboard is shown whole; one pressed with the mouse stays where it is (it may be the
      // start of a drag).
      const item = tripItem(trip);
      if (item && (scrolled || target.matches(':focus-visible'))) showRow(item.group);
      syncStop();
    };

    box.addEventListener('keydown', onKeyDown);
    box.addEventListener('focusin', onFocusIn);
    created.on('changed', () => {
      // Scrolled (or resized): bring in the items of the rows now in view.
      if (!sameSet(rowsNow(created), rows.current)) applyItems.current(created);
      focusPending();
      syncStop();
    });
    timeline.current = created;
    return () => {
      window.clearTimeout(lateFocus);
      box.removeEventListener('keydown', onKeyDown);
      box.removeEventListener('focusin', onFocusIn);
      created.destroy();
      timeline.current = null;
    };
    // The timeline is made once; the day's window is moved by the effect below.
  }, []);

  useEffect(() => {
    const current = timeline.current;
    if (!current) return;
    const span = dayWindow(day);
    current.setWindow(span.start, span.end, { animation: false });
  }, [day]);

  useEffect(() => {
    timeline.current?.setOptions({ locale: language === 'en' ? 'en' : 'zh-cn' });
  }, [language]);

  useEffect(() => {
    latest.current = { groups, items };
    const tripItems = items.filter((i) => i.type === 'range' && i.trip_id !== null);
    const rowIds = groups.map((g) => g.id);
    const trips = tripItems.map((i) => ({ trip: i.trip_id as number, row: i.group, start: i.start }));
    const order = tripOrder(rowIds, trips).map((p) => p.trip);
    places.current = {
      rows: rowIds,
      trips,
      items: new Map(tripItems.map((i) => [i.trip_id as number, i])),
      order,
      rank: new Map(order.map((trip, index) => [trip, index])),
    };
    if (pinned.current !== null && !rowIds.includes(pinned.current)) pinned.current = null;
    if (stop.current !== null && !places.current.rank.has(stop.current)) stop.current = null;
    sync(groupSet.current, groups);
    applyItems.current(timeline.current);
  }, [groups, items]);

  return (
    <div
      ref={container}
      className="gc-board-timeline"
      data-testid="board-timeline"
      role="group"
      aria-label={label}
      aria-describedby={describedBy}
    />
  );
}
