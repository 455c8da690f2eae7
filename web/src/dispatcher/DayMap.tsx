import { Alert, Card, Space, Typography } from 'antd';
import { useSearchParams } from 'react-router';

import { ApiError, useConsoleConfig } from '../api';
import { useErrorText } from '../errors';
import DayMapView from './DayMapView';
import DayPicker, { dayOf, useDay } from './DayPicker';
import './dispatcher.css';
import { useText } from './messages';
import { readBoardAhead, useBoard, useDayTrips } from './queries';

// The day's board is asked for as this page's code arrives (see DayBoard).
if (typeof window !== 'undefined' && window.location.pathname === '/map') {
  readBoardAhead(dayOf(window.location.search));
}

/**
 * The map of the day (`/map?day=…&vehicle=…&trip=…`): depots, the day's pickups and drop-offs, one vehicle's route,
 * every vehicle where it is now, and one trip's track beside its planned route.
 */
export default function DayMap() {
  const { t } = useText();
  const describe = useErrorText();
  const [day, setDay] = useDay();
  const [params, setParams] = useSearchParams();
  const board = useBoard(day);
  const trips = useDayTrips(day);
  const config = useConsoleConfig();
  const asked = Number(params.get('vehicle'));
  const selected = Number.isInteger(asked) && asked > 0 ? asked : null;
  const askedTrip = Number(params.get('trip'));
  const trip = Number.isInteger(askedTrip) && askedTrip > 0 ? askedTrip : null;
  const choose = (name: 'vehicle' | 'trip', id: number | null) =>
    setParams((current) => {
      const updated = new URLSearchParams(current);
      if (id === null) updated.delete(name);
      else updated.set(name, String(id));
      return updated;
    });
  const forbidden = board.error instanceof ApiError && board.error.status === 403;
  return (
    <Card
      title={
        <Space wrap>
          <span>{t('map.title')}</span>
          <DayPicker day={day} onChange={setDay} />
          <Typography.Text type="secondary">{t('board.timeZoneNote')}</Typography.Text>
        </Space>
      }
    >
      {forbidden && <Alert type="info" showIcon title={t('board.forbidden')} style={{ marginBottom: 12 }} />}
      {board.error && !forbidden && (
        <Alert type="error" showIcon title={t('errors.load', { detail: describe(board.error) })} />
      )}
      {trips.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(trips.error) })} />}
      <DayMapView
        config={config.isError || config.data === null ? null : config.data?.map}
        vehicles={board.data?.vehicles ?? []}
        items={board.data?.items ?? []}
        trips={trips.data ?? []}
        tripsLoading={trips.isFetching}
        selected={selected}
        onSelect={(vehicle) => choose('vehicle', vehicle)}
        trip={trip}
        onTrip={(id) => choose('trip', id)}
      />
    </Card>
  );
}
