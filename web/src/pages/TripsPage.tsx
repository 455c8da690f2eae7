import { DownloadOutlined, PrinterOutlined, StopOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { App, Button, Card, DatePicker, Input, Popconfirm, Select, Space, Table, Tag, Typography } from 'antd';
import type { ColumnsType, SorterResult } from 'antd/es/table/interface';
import dayjs from 'dayjs';
import { lazy, Suspense, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';

import { API, queryString, sendJson, tripQuery, useTrips, useVocabulary, type Trip, type TripFilters } from '../api';
import { useMe } from '../auth';
import { useErrorText } from '../errors';
import { isLanguage } from '../i18n';
import { pageOf, sizeOf } from '../paging';
import { formatChinaDateTime, formatChinaWindow } from '../time';
import { label, STATUS_COLOURS } from '../vocabulary';
import { ListFailure, serverPagination } from './listParts';

const TripTimeline = lazy(() => import('./TripTimeline'));

/** The statuses a trip may still be cancelled from (fleet/bookings.py). */
export const CANCELLABLE = ['requested', 'approved', 'assigned', 'rented'];
/** The roles that may cancel (api/routes/trips.py Canceller). */
const CANCELLERS = ['requester', 'approver', 'dispatcher'];
/** Sorting the API offers, by column; `priority` only one way. */
const SORTS: Record<string, { ascend: string; descend?: string }> = {
  id: { ascend: 'id', descend: '-id' },
  window: { ascend: 'pickup', descend: '-pickup' },
  created_at: { ascend: 'created', descend: '-created' },
  priority: { ascend: 'priority' },
};

/** The page's state in its address, so that a list can be reloaded, bookmarked and sent to someone. */
function useListState() {
  const [params, setParams] = useSearchParams();
  const page = pageOf(params);
  const size = sizeOf(params);
  const filters: TripFilters = {
    status: params.getAll('status'),
    since: params.get('since') ?? undefined,
    until: params.get('until') ?? undefined,
    q: params.get('q') ?? undefined,
    sort: params.get('sort') ?? undefined,
  };
  const update = (changes: Record<string, string | string[] | null>, keepPage = false) => {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        for (const [key, value] of Object.entries(changes)) {
          next.delete(key);
          if (Array.isArray(value)) for (const item of value) next.append(key, item);
          else if (value !== null && value !== '') next.set(key, value);
        }
        if (!keepPage) next.delete('page');
        return next;
      },
      { replace: true },
    );
  };
  return { page, size, filters, update };
}

/**
 * The trips list: a requester's or approver's own bookings ("my trips"), or every trip the caller may read (the
 * platform's roles). Filters by status, pickup day and text; sorts and pages on the server; exports the same
 * selection as CSV or XLSX; prints a trip's 派车单; cancels a trip that has not started, after asking.
 */
export default function TripsPage() {
  const { t, i18n } = useTranslation();
  const describe = useErrorText();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const me = useMe();
  const { message } = App.useApp();
  const queryClient = useQueryClient();
  const mine = me.role === 'requester' || me.role === 'approver';
  const { page, size, filters, update } = useListState();
  const query = useMemo(() => ({ ...filters, mine }), [filters, mine]);
  const trips = useTrips(query, page, size);
  const vocabulary = useVocabulary();
  const words = vocabulary.data;
  const [search, setSearch] = useState(filters.q ?? '');
  const [cancelling, setCancelling] = useState<number | null>(null);
  const mayCancel = CANCELLERS.includes(me.role);

  const cancel = async (trip: Trip) => {
    setCancelling(trip.id);
    try {
      await sendJson<Trip>('POST', `/trips/${trip.id}/cancel`, {});
      void message.success(t('trips.cancelled', { id: trip.id }));
    } catch (error) {
      void message.error(describe(error));
    } finally {
      setCancelling(null);
      void queryClient.invalidateQueries({ queryKey: ['trips'] });
    }
  };

  const sortOrder = (column: string): 'ascend' | 'descend' | null => {
    const sort = filters.sort ?? 'pickup';
    const ways = SORTS[column];
    if (!ways) return null;
    if (sort === ways.ascend) return 'ascend';
    if (ways.descend !== undefined && sort === ways.descend) return 'descend';
    return null;
  };

  const columns: ColumnsType<Trip> = [
    { title: t('trips.id'), dataIndex: 'id', key: 'id', width: 80, sorter: true, sortOrder: sortOrder('id') },
    ...(mine ? [] : [{ title: t('trips.agency'), dataIndex: 'agency', key: 'agency', width: 96 }]),
    { title: t('trips.purpose'), dataIndex: 'purpose', key: 'purpose', ellipsis: true },
    {
      title: t('trips.priority'),
      dataIndex: 'priority',
      key: 'priority',
      width: 110,
      sorter: true,
      sortDirections: ['ascend'],
      sortOrder: sortOrder('priority'),
      render: (value: string) => label(words, 'priority', value, language),
    },
    {
      title: t('trips.pickupWindow'),
      key: 'window',
      width: 200,
      sorter: true,
      sortOrder: sortOrder('window'),
      render: (_: unknown, trip: Trip) => <span data-testid="pickup-window">{formatChinaWindow(trip.earliest_pickup, trip.latest_pickup)}</span>,
    },
    { title: t('trips.pickup'), key: 'pickup', ellipsis: true, render: (_: unknown, trip: Trip) => trip.pickup.address },
    { title: t('trips.dropoff'), key: 'dropoff', ellipsis: true, render: (_: unknown, trip: Trip) => trip.dropoff.address },
    { title: t('trips.passengers'), dataIndex: 'passengers', key: 'passengers', width: 90, align: 'right' },
    {
      title: t('trips.status'),
      dataIndex: 'status',
      key: 'status',
      width: 100,
      render: (value: string, trip: Trip) => (
        <Tag color={STATUS_COLOURS[value] ?? 'default'} data-testid="trip-status" title={trip.decision_note ?? trip.dispatch_note ?? undefined}>
          {label(words, 'trip_status', value, language)}
        </Tag>
      ),
    },
    { title: t('trips.vehicle'), key: 'vehicle', width: 110, render: (_: unknown, trip: Trip) => trip.assignment?.plate ?? '—' },
    {
      title: t('trips.createdAt'),
      dataIndex: 'created_at',
      key: 'created_at',
      width: 150,
      sorter: true,
      sortOrder: sortOrder('created_at'),
      render: (value: string) => formatChinaDateTime(value),
    },
    {
      title: t('trips.actions'),
      key: 'actions',
      width: 230,
      fixed: 'right',
      render: (_: unknown, trip: Trip) => (
        <Space size={0}>
          <Button type="link" size="small" icon={<PrinterOutlined />} href={`${API}/trips/${trip.id}/slip?format=html`} target="_blank" rel="noopener" data-testid="trip-slip">
            {t('trips.slip')}
          </Button>
          {mayCancel && CANCELLABLE.includes(trip.status) && (
            <Popconfirm
              title={t('trips.cancelTitle', { id: trip.id })}
              description={t('trips.cancelConfirm')}
              okText={t('trips.cancel')}
              cancelText={t('app.back')}
              okButtonProps={{ danger: true }}
              onConfirm={() => cancel(trip)}
            >
              <Button type="link" size="small" danger icon={<StopOutlined />} loading={cancelling === trip.id} data-testid="trip-cancel">
                {t('trips.cancel')}
              </Button>
            </Popconfirm>
          )}
        </Space>
      ),
    },
  ];

  const exportLink = (format: 'csv' | 'xlsx') => {
    const selection = tripQuery(query).replace(/^\?/, '');
    return `${API}/trips/export${queryString({ format })}${selection ? `&${selection}` : ''}`;
  };

  const statusOptions = (words?.trip_status ?? []).map((term) => ({ value: term.value, label: label(words, 'trip_status', term.value, language) }));
  const items = trips.data?.items ?? [];

  return (
    <>
      <Card
        title={mine ? t('trips.title') : t('trips.allTitle')}
        extra={<Typography.Text type="secondary">{t('trips.timeZoneNote')}</Typography.Text>}
      >
        <Space wrap style={{ marginBottom: 16 }} data-testid="trip-filters">
          <Select
            mode="multiple"
            allowClear
            placeholder={t('trips.statusFilter')}
            options={statusOptions}
            value={filters.status ?? []}
            onChange={(status: string[]) => update({ status })}
            style={{ minWidth: 220 }}
            data-testid="filter-status"
          />
          <DatePicker.RangePicker
            allowEmpty={[true, true]}
            format="YYYY-MM-DD"
            placeholder={[t('trips.since'), t('trips.until')]}
            value={[filters.since ? dayjs(filters.since) : null, filters.until ? dayjs(filters.until) : null]}
            onChange={(range) =>
              update({ since: range?.[0]?.format('YYYY-MM-DD') ?? null, until: range?.[1]?.format('YYYY-MM-DD') ?? null })
            }
            data-testid="filter-days"
          />
          <Input.Search
            allowClear
            placeholder={t('trips.search')}
            value={search}
            onChange={(event) => setSearch(event.target.value)}
            onSearch={(q) => update({ q: q.trim() })}
            style={{ width: 260 }}
            data-testid="filter-q"
          />
          <Button icon={<DownloadOutlined />} href={exportLink('csv')} data-testid="export-csv">
            {t('trips.exportCsv')}
          </Button>
          <Button icon={<DownloadOutlined />} href={exportLink('xlsx')} data-testid="export-xlsx">
            {t('trips.exportXlsx')}
          </Button>
        </Space>
        <ListFailure error={trips.error} placed={false} forbidden={t('trips.forbidden')} testId="trip-error" />
        <Table<Trip>
          rowKey="id"
          size="middle"
          columns={columns}
          dataSource={items}
          loading={trips.isFetching}
          locale={{ emptyText: t('trips.empty') }}
          scroll={{ x: 1400 }}
          data-testid="trips-table"
          onChange={(_pagination, _filters, sorter, extra) => {
            if (extra.action !== 'sort') return; // paging is the pagination's own onChange
            const one = (Array.isArray(sorter) ? sorter[0] : sorter) as SorterResult<Trip> | undefined;
            const ways = one?.columnKey !== undefined ? SORTS[String(one.columnKey)] : undefined;
            if (!one?.order || !ways) update({ sort: null });
            else update({ sort: one.order === 'descend' ? (ways.descend ?? ways.ascend) : ways.ascend });
          }}
          pagination={serverPagination(
            { page, size },
            trips.data?.total ?? 0,
            (changes) =>
              update({ page: (changes.page ?? 1) > 1 ? String(changes.page) : null, size: String(changes.size ?? size) }, true),
            (count) => <span data-testid="trips-total">{t('trips.total', { count })}</span>,
          )}
        />
      </Card>
      {items.length > 0 && (
        <Card title={t('trips.timeline')} style={{ marginTop: 24 }}>
          <Suspense fallback={null}>
            <TripTimeline trips={items} language={language} vocabularies={words} />
          </Suspense>
        </Card>
      )}
    </>
  );
}
