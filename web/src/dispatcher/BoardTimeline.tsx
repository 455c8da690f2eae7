import { useEffect, useRef } from 'react';
import { DataSet } from 'vis-data/peer';
import { Timeline, type TimelineOptions } from 'vis-timeline/peer';
import 'vis-timeline/styles/vis-timeline-graph2d.css';

import type { Language } from '../i18n';
import { CHINA_TIMELINE } from '../timeline';
import {
  dayWindow,
  DRAG_FORMAT,
  rowsAround,
  sameSet,
  sync,
  type BoardItem,
  type DraggedTrip,
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

/**
 * An item as the board draws it (vis-timeline's `template`): its words as text; a trip opens its details when
 * clicked, and one still waiting for its vehicle is a native drag source, so that moving it to another row is the same
 * drop as a queue trip's. The timeline's own item dragging is off (in this version a second drag of an item after a
 * move does not start), and the timeline does not see a press on a trip (it would cancel the native drag).
 */
function itemContent(item: BoardItem | undefined, onOpen: (tripId: number) => void): HTMLElement | string {
  if (!item) return '';
  const box = document.createElement('div');
  box.className = 'gc-item-text';
  box.textContent = item.text;
  const tripId = item.trip_id;
  if (item.type !== 'range' || tripId === null) return box;
  box.addEventListener('pointerdown', (event) => event.stopPropagation());
  box.addEventListener('click', (event) => {
    event.stopPropagation();
    onOpen(tripId);
  });
  if (item.className.includes('gc-movable')) {
    box.draggable = true;
    box.addEventListener('dragstart', (event) => {
      const dragged: DraggedTrip = {
        id: `m${tripId}`,
        type: 'range',
        content: item.content,
        start: new Date(item.start).toISOString(),
        end: new Date(item.end).toISOString(),
        target: 'group',
        trip_id: tripId,
        moving: true,
      };
      event.dataTransfer?.setData(DRAG_FORMAT, JSON.stringify(dragged));
      if (event.dataTransfer) event.dataTransfer.effectAllowed = 'move';
    });
  }
  return box;
}

export interface BoardTimelineProps {
  day: string;
  groups: VehicleGroup[];
  items: BoardItem[];
  language: Language;
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

  /** The rows in view now, with their margin (see `rowsAround`); before the first draw, the screenful at the top. */
  const rowsNow = (current: Timeline | null): Set<number> =>
    rowsAround(
      latest.current.groups.map((g) => g.id),
      new Set(visibleGroups(current).map(Number)),
      MARGIN_ROWS,
      Math.ceil((container.current?.clientHeight || window.innerHeight) / ROW_PX) + MARGIN_ROWS,
    );

  /** Put into the timeline the items of the rows in view and around them, and only those. */
  const applyItems = useRef((current: Timeline | null) => {
    const next = rowsNow(current);
    rows.current = next;
    const wanted = latest.current.items.filter((i) => next.has(i.group));
    const arriving = wanted.reduce((n, i) => n + (itemSet.current.get(i.id) === null ? 1 : 0), 0);
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
        itemContent(item, (tripId) => handlers.current.onOpenTrip(tripId)),
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
    created.on('click', (props: { group?: number | null; what?: string | null }) => {
      if (props.what === 'group-label' && props.group != null) handlers.current.onVehicle(props.group);
    });
    created.on('changed', () => {
      // Scrolled (or resized): bring in the items of the rows now in view.
      if (!sameSet(rowsNow(created), rows.current)) applyItems.current(created);
    });
    timeline.current = created;
    return () => {
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
    sync(groupSet.current, groups);
    applyItems.current(timeline.current);
  }, [groups, items]);

  return <div ref={container} className="gc-board-timeline" data-testid="board-timeline" />;
}
