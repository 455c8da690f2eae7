import { ReloadOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Empty, Select, Space, Spin, Tabs, Tooltip, Typography } from 'antd';
import { lazy, Suspense, useCallback, useMemo, useState } from 'react';

import { ApiError, useConsoleConfig, useVocabulary, type Trip } from '../api';
import { useErrorText } from '../errors';
import { label, type VocabularyName } from '../vocabulary';
import { facets, NO_FILTERS, timelineData, type BoardFilters } from './board';
import DayPicker, { dayOf, useDay } from './DayPicker';
import DispatchPanel from './DispatchPanel';
import './dispatcher.css';
import { useText } from './messages';
import { assignTrip, readBoardAhead, refreshDay, unassignTrip, useAgencyList, useBoard, useDayTrips } from './queries';
import Queue from './Queue';
import RunsTable from './RunsTable';
import TripDrawer from './TripDrawer';
import UrgentForm from './UrgentForm';

// As this page's code arrives: the day's board is asked for, and the timeline (vis-timeline) fetched, while the page
// renders the first time. MapLibre, the biggest library here, loads when the map tab opens.
if (typeof window !== 'undefined' && window.location.pathname === '/board') {
  readBoardAhead(dayOf(window.location.search));
}
const timelineCode = import('./BoardTimeline');
const BoardTimeline = lazy(() => timelineCode);
const DayMapView = lazy(() => import('./DayMapView'));

type Tab = 'board' | 'map' | 'runs';

const NO_TRIPS: Trip[] = [];
/** The board's hint, which says how to work the timeline with the mouse and with the keyboard. */
const HINT_ID = 'gc-board-hint';

interface MapTabProps {
  day: string;
  selected: number | null;
  onSelect: (vehicleId: number | null) => void;
}

function MapTab({ day, selected, onSelect }: MapTabProps) {
  const board = useBoard(day);
  const trips = useDayTrips(day);
  const config = useConsoleConfig();
  return (
    <Suspense fallback={<Spin />}>
      <DayMapView
        config={config.isError || config.data === null ? null : config.data?.map}
        vehicles={board.data?.vehicles ?? []}
        items={board.data?.items ?? []}
        trips={trips.data ?? []}
        tripsLoading={trips.isFetching}
        selected={selected}
        onSelect={onSelect}
      />
    </Suspense>
  );
}

/**
 * 调度看板: the day's vehicles as rows of a timeline with what each holds, the queue of approved trips beside it
 * (dragged onto a row to assign), the dispatch run and the urgent emergency, the map of the day and the run history.
 */
export default function DayBoard() {
  const { t, language } = useText();
  const describe = useErrorText();
  const { message } = App.useApp();
  const client = useQueryClient();
  const [day, setDay] = useDay();
  const board = useBoard(day);
  const words = useVocabulary().data;
  const agencies = useAgencyList();
  const [filters, setFilters] = useState<BoardFilters>(NO_FILTERS);
  const [tab, setTab] = useState<Tab>('board');
  const [openTrip, setOpenTrip] = useState<number | null>(null);
  const [vehicle, setVehicle] = useState<number | null>(null);

  const names = useMemo(() => new Map((agencies.data ?? []).map((a) => [a.code, a.name])), [agencies.data]);
  const labelOf = useCallback(
    (vocabulary: VocabularyName, value: string) => label(words, vocabulary, value, language),
    [words, language],
  );
  const data = useMemo(
    () =>
      board.data
        ? timelineData(board.data, filters, labelOf, {
            noDriver: t('board.noDriver'),
            sealed: t('board.sealed'),
            workshop: t('board.workshop'),
            agencyName: (code) => names.get(code) ?? code,
            tripLabel: (parts) => t('board.tripLabel', { ...parts }),
          })
        : { groups: [], items: [] },
    [board.data, filters, labelOf, t, names],
  );
  const options = useMemo(() => facets(board.data?.vehicles ?? []), [board.data]);

  const assign = useCallback(
    async (tripId: number, vehicleId: number, how: 'drop' | 'move' = 'drop'): Promise<boolean> => {
      try {
        const trip = await assignTrip(tripId, vehicleId);
        const plate = trip.assignment?.plate ?? String(vehicleId);
        message.success(
          <span data-testid="assign-done">
            {t(how === 'move' ? 'assign.moved' : 'assign.done', { trip: tripId, plate })}
          </span>,
        );
        return true;
      } catch (error) {
        const detail = describe(error);
        const refused = error instanceof ApiError && error.status < 500;
        message.error(
          <span data-testid="assign-refused">{t(refused ? 'assign.refused' : 'assign.failed', { detail })}</span>,
          6,
        );
        return false;
      } finally {
        void refreshDay(client);
      }
    },
    [client, message, t, describe],
  );

  const assignFromQueue = useCallback(
    (tripId: number, vehicleId: number) => void assign(tripId, vehicleId),
    [assign],
  );

  const unassign = useCallback(
    async (tripId: number, note: string): Promise<boolean> => {
      try {
        await unassignTrip(tripId, note.trim() || null);
        message.success(<span data-testid="unassign-done">{t('assign.unassigned', { trip: tripId })}</span>);
        setOpenTrip(null);
        return true;
      } catch (error) {
        message.error(t('assign.failed', { detail: describe(error) }), 6);
        return false;
      } finally {
        void refreshDay(client);
      }
    },
    [client, message, t, describe],
  );

  const forbidden = board.error instanceof ApiError && board.error.status === 403;
  const filter = (field: keyof BoardFilters, vocabulary: VocabularyName | null, values: string[]) => (
    <Select<string[]>
      mode="multiple"
      allowClear
      maxTagCount="responsive"
      style={{ minWidth: 180 }}
      placeholder={t(
        field === 'agencies' ? 'board.agency' : field === 'categories' ? 'board.category' : 'board.status',
      )}
      value={filters[field]}
      onChange={(next) => setFilters((current) => ({ ...current, [field]: next }))}
      options={values.map((value) => ({
        value,
        label: vocabulary ? labelOf(vocabulary, value) : names.has(value) ? `${names.get(value)} (${value})` : value,
      }))}
      data-testid={`filter-${field}`}
    />
  );

  const boardTab = (
    <div className="gc-board-layout">
      <div className="gc-board-main">
        <Typography.Paragraph type="secondary" className="gc-hint" id={HINT_ID}>
          {t('board.dragHint')}
        </Typography.Paragraph>
        <Spin spinning={board.isLoading}>
          <Suspense fallback={<div className="gc-board-timeline gc-board-loading" />}>
            <BoardTimeline
              day={day}
              groups={data.groups}
              items={data.items}
              language={language}
              label={t('board.timeline')}
              describedBy={HINT_ID}
              onAssign={assign}
              onOpenTrip={setOpenTrip}
              onVehicle={setVehicle}
            />
          </Suspense>
        </Spin>
        {board.data && data.groups.length === 0 && (
          <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('board.noVehicles')} />
        )}
      </div>
      <Queue trips={board.data?.queue ?? NO_TRIPS} onAssign={assignFromQueue} />
    </div>
  );

  return (
    <Card
      className="gc-board"
      title={
        <Space wrap>
          <span>{t('board.title')}</span>
          <DayPicker day={day} onChange={setDay} />
          <Typography.Text type="secondary">{t('board.timeZoneNote')}</Typography.Text>
        </Space>
      }
      extra={
        <Space wrap>
          <Tooltip title={t('board.refresh')}>
            <Button
              icon={<ReloadOutlined />}
              loading={board.isFetching && !board.isLoading}
              onClick={() => void refreshDay(client)}
              aria-label={t('board.refresh')}
            />
          </Tooltip>
          <UrgentForm day={day} />
          <DispatchPanel day={day} />
        </Space>
      }
    >
      {forbidden && <Alert type="info" showIcon title={t('board.forbidden')} />}
      {board.error && !forbidden && (
        <Alert type="error" showIcon title={t('errors.load', { detail: describe(board.error) })} />
      )}
      <Space wrap style={{ marginBottom: 12 }}>
        {filter('agencies', null, options.agencies)}
        {filter('categories', 'category', options.categories)}
        {filter('statuses', 'vehicle_status', options.statuses)}
        <Typography.Text type="secondary" data-testid="board-counts">
          {t('board.vehicles', { shown: data.groups.length, total: board.data?.vehicles.length ?? 0 })}
          {' · '}
          {t('board.items', { count: data.items.filter((i) => i.type === 'range').length })}
        </Typography.Text>
      </Space>
      <Tabs
        activeKey={tab}
        onChange={(key) => setTab(key as Tab)}
        destroyOnHidden={false}
        items={[
          { key: 'board', label: t('board.tabs.board'), children: boardTab },
          {
            key: 'map',
            label: t('board.tabs.map'),
            children: tab === 'map' ? <MapTab day={day} selected={vehicle} onSelect={setVehicle} /> : null,
          },
          { key: 'runs', label: t('board.tabs.runs'), children: tab === 'runs' ? <RunsTable /> : null },
        ]}
      />
      <TripDrawer
        tripId={openTrip}
        onClose={() => setOpenTrip(null)}
        onUnassign={unassign}
        onShowRoute={(vehicleId) => {
          setVehicle(vehicleId);
          setOpenTrip(null);
          setTab('map');
        }}
      />
    </Card>
  );
}
