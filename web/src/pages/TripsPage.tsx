import { Alert, Card, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { lazy, Suspense, useState } from 'react';
import { useTranslation } from 'react-i18next';

import { useTrips, useVocabulary, type Trip } from '../api';
import { isLanguage } from '../i18n';
import { formatChinaDateTime, formatChinaWindow } from '../time';
import { label, STATUS_COLOURS } from '../vocabulary';

const TripTimeline = lazy(() => import('./TripTimeline'));

export default function TripsPage() {
  const { t, i18n } = useTranslation();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(20);
  const trips = useTrips(page, pageSize);
  const vocabulary = useVocabulary();
  const words = vocabulary.data;

  const columns: ColumnsType<Trip> = [
    { title: t('trips.id'), dataIndex: 'id', width: 72 },
    { title: t('trips.agency'), dataIndex: 'agency', width: 96 },
    { title: t('trips.purpose'), dataIndex: 'purpose', ellipsis: true },
    {
      title: t('trips.priority'),
      dataIndex: 'priority',
      width: 110,
      render: (value: string) => label(words, 'priority', value, language),
    },
    {
      title: t('trips.pickupWindow'),
      key: 'window',
      width: 190,
      render: (_: unknown, trip: Trip) => (
        <span data-testid="pickup-window">{formatChinaWindow(trip.earliest_pickup, trip.latest_pickup)}</span>
      ),
    },
    { title: t('trips.pickup'), key: 'pickup', ellipsis: true, render: (_: unknown, trip: Trip) => trip.pickup.address },
    {
      title: t('trips.dropoff'),
      key: 'dropoff',
      ellipsis: true,
      render: (_: unknown, trip: Trip) => trip.dropoff.address,
    },
    { title: t('trips.passengers'), dataIndex: 'passengers', width: 90, align: 'right' },
    {
      title: t('trips.status'),
      dataIndex: 'status',
      width: 100,
      render: (value: string) => (
        <Tag color={STATUS_COLOURS[value] ?? 'default'} data-testid="trip-status">
          {label(words, 'trip_status', value, language)}
        </Tag>
      ),
    },
    {
      title: t('trips.vehicle'),
      key: 'vehicle',
      width: 110,
      render: (_: unknown, trip: Trip) => trip.assignment?.plate ?? '—',
    },
    {
      title: t('trips.createdAt'),
      dataIndex: 'created_at',
      width: 150,
      render: (value: string) => formatChinaDateTime(value),
    },
  ];

  return (
    <>
      <Card
        title={t('trips.title')}
        extra={<Typography.Text type="secondary">{t('trips.timeZoneNote')}</Typography.Text>}
      >
        {trips.error && (
          <Alert type="error" showIcon title={t('errors.load', { detail: trips.error.message })} />
        )}
        <Table<Trip>
          rowKey="id"
          size="middle"
          columns={columns}
          dataSource={trips.data?.items ?? []}
          loading={trips.isFetching}
          locale={{ emptyText: t('trips.empty') }}
          scroll={{ x: 1200 }}
          pagination={{
            current: page,
            pageSize,
            total: trips.data?.total ?? 0,
            showSizeChanger: true,
            showTotal: (count) => t('trips.total', { count }),
            onChange: (next, size) => {
              setPage(size === pageSize ? next : 1);
              setPageSize(size);
            },
          }}
        />
      </Card>
      {(trips.data?.items.length ?? 0) > 0 && (
        <Card title={t('trips.timeline')} style={{ marginTop: 24 }}>
          <Suspense fallback={null}>
            <TripTimeline trips={trips.data?.items ?? []} language={language} vocabularies={words} />
          </Suspense>
        </Card>
      )}
    </>
  );
}
