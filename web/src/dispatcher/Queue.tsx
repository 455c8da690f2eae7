import { Empty, Popover, Select, Typography } from 'antd';
import { memo, useMemo, useState, type DragEvent } from 'react';

import { useVocabulary, type Trip } from '../api';
import { label } from '../vocabulary';
import { chinaWindow, DRAG_FORMAT, escapeHtml, orderQueue, type DraggedTrip } from './board';
import { useText } from './messages';
import { useAvailable } from './queries';

export const PRIORITY_COLOURS: Record<string, string> = {
  emergency: 'volcano',
  law_enforcement: 'geekblue',
  routine: 'green',
};

/** The end of the interval a trip would hold its vehicle, roughly (30 km/h, plus its dwell): to ask who is free. */
export function roughEnd(trip: Trip): string {
  const drive = (trip.planned_km / 30) * 3600 * 1000;
  const end = Date.parse(trip.earliest_pickup) + drive + trip.dwell_min * 60 * 1000;
  return new Date(Math.ceil(end / 60000) * 60000).toISOString();
}

function AssignPicker({ trip, onAssign }: { trip: Trip; onAssign: (vehicleId: number) => void }) {
  const { t } = useText();
  const available = useAvailable(trip.id);
  return (
    <Select<number>
      style={{ width: 220 }}
      showSearch
      optionFilterProp="label"
      placeholder={t('queue.chooseVehicle')}
      loading={available.isFetching}
      notFoundContent={available.isFetching ? null : t('queue.noneFree')}
      options={(available.data ?? []).map((v) => ({ value: v.id, label: `${v.plate} · ${v.agency}` }))}
      onChange={onAssign}
      data-testid="available-vehicles"
    />
  );
}

/**
 * One waiting trip: plain elements (the queue can hold hundreds), the vehicle picker's popover made only while it is
 * open.
 */
const QueueTrip = memo(function QueueTrip({
  trip,
  priority,
  picking,
  onPick,
  onAssign,
}: {
  trip: Trip;
  priority: string;
  picking: boolean;
  onPick: (tripId: number | null) => void;
  onAssign: (tripId: number, vehicleId: number) => void;
}) {
  const { t } = useText();
  const head = `#${trip.id} ${trip.purpose}`;
  const onDragStart = (event: DragEvent<HTMLDivElement>) => {
    const dragged: DraggedTrip = {
      id: `q${trip.id}`,
      type: 'range',
      content: escapeHtml(head),
      start: trip.earliest_pickup,
      end: roughEnd(trip),
      target: 'group',
      trip_id: trip.id,
    };
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData(DRAG_FORMAT, JSON.stringify(dragged));
  };
  const button = (
    <button type="button" className="gc-queue-assign" onClick={() => onPick(picking ? null : trip.id)}>
      {t('queue.assign')}
    </button>
  );
  return (
    <div
      className={`gc-queue-trip gc-priority-${trip.priority}`}
      draggable
      onDragStart={onDragStart}
      data-testid="queue-trip"
      data-trip={trip.id}
      title={t('queue.dragMe')}
    >
      <div className="gc-queue-line">
        <span className={`gc-chip gc-chip-${trip.priority}`} data-testid="queue-priority">
          {priority}
        </span>
        <strong>{head}</strong>
      </div>
      <div className="gc-queue-facts">
        {chinaWindow(trip.earliest_pickup, trip.latest_pickup)} · {trip.agency} · {trip.passengers}
        {' · '}
        {trip.pickup.address} → {trip.dropoff.address}
      </div>
      {trip.dispatch_note && (
        <div className="gc-queue-note" data-testid="dispatch-note">
          {t('queue.noteLine', { note: trip.dispatch_note })}
        </div>
      )}
      {picking ? (
        <Popover
          open
          trigger="click"
          onOpenChange={(open) => !open && onPick(null)}
          content={
            <AssignPicker
              trip={trip}
              onAssign={(vehicleId) => {
                onPick(null);
                onAssign(trip.id, vehicleId);
              }}
            />
          }
        >
          {button}
        </Popover>
      ) : (
        button
      )}
    </div>
  );
});

/** The approved trips of the day not yet assigned, emergencies first, each draggable onto a vehicle row. */
export default function Queue({
  trips,
  onAssign,
}: {
  trips: Trip[];
  onAssign: (tripId: number, vehicleId: number) => void;
}) {
  const { t, language } = useText();
  const words = useVocabulary().data;
  const [picking, setPicking] = useState<number | null>(null);
  const ordered = useMemo(() => orderQueue(trips), [trips]);
  return (
    <div className="gc-queue" data-testid="queue">
      <div className="gc-queue-head">
        <Typography.Text strong>{t('queue.title')}</Typography.Text>
        <Typography.Text type="secondary" data-testid="queue-count">
          {t('queue.count', { count: ordered.length })}
        </Typography.Text>
      </div>
      {ordered.length === 0 ? (
        <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('queue.empty')} />
      ) : (
        <div className="gc-queue-list">
          {ordered.map((trip) => (
            <QueueTrip
              key={trip.id}
              trip={trip}
              priority={label(words, 'priority', trip.priority, language)}
              picking={picking === trip.id}
              onPick={setPicking}
              onAssign={onAssign}
            />
          ))}
        </div>
      )}
    </div>
  );
}
