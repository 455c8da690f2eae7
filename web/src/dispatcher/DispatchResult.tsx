import { Descriptions, Space, Table, Typography } from 'antd';

import { useVocabulary } from '../api';
import { label } from '../vocabulary';
import { km, percent, priorityRows, type PriorityRow } from './dispatch';
import { useText } from './messages';
import type { DispatchSummary, UnservedTrip } from './types';

/** What a run did: served against offered per priority with the bound and the gap, the km, and what it left. */
export default function DispatchResult({ summary }: { summary: Partial<DispatchSummary> }) {
  const { t, language } = useText();
  const words = useVocabulary().data;
  const rows = priorityRows({
    served: summary.served ?? {},
    offered: summary.offered ?? {},
    bounds: summary.bounds ?? {},
    gap: summary.gap ?? {},
  });
  const unserved = summary.unserved ?? [];
  const refused = summary.refused_at_commit ?? [];
  const deadheadBound = summary.bounds?.deadhead_lower_km;
  return (
    <div data-testid="dispatch-result">
      <Table<PriorityRow>
        size="small"
        rowKey="priority"
        pagination={false}
        dataSource={rows}
        data-testid="served-table"
        columns={[
          {
            title: t('dispatch.priority'),
            dataIndex: 'priority',
            render: (value: string) => label(words, 'priority', value, language),
          },
          {
            title: t('dispatch.served'),
            dataIndex: 'served',
            align: 'right',
            render: (value: number, row) => (
              <span data-testid={`served-${row.priority}`}>
                {value}/{row.offered}
              </span>
            ),
          },
          { title: t('dispatch.bound'), dataIndex: 'bound', align: 'right', render: (v: number | null) => v ?? '—' },
          { title: t('dispatch.gap'), dataIndex: 'gap', align: 'right', render: (v: number | null) => v ?? '—' },
        ]}
      />
      <Descriptions size="small" column={2} style={{ marginTop: 12 }} data-testid="dispatch-km">
        <Descriptions.Item label={t('dispatch.deadhead')}>
          {t('dispatch.km', { km: km(summary.deadhead_km) })}
        </Descriptions.Item>
        <Descriptions.Item label={t('dispatch.totalKm')}>
          {t('dispatch.km', { km: km(summary.total_km) })}
        </Descriptions.Item>
        <Descriptions.Item label={t('dispatch.deadheadBound')}>
          {deadheadBound == null ? '—' : t('dispatch.km', { km: km(deadheadBound) })}
        </Descriptions.Item>
        <Descriptions.Item label={t('dispatch.deadheadGap')}>{percent(summary.gap?.deadhead)}</Descriptions.Item>
        <Descriptions.Item label={t('dispatch.withoutDriver')}>
          <span data-testid="without-driver">{summary.routes_without_driver ?? 0}</span>
        </Descriptions.Item>
        <Descriptions.Item label={t('dispatch.refusedAtCommit')}>{refused.length}</Descriptions.Item>
        <Descriptions.Item span={2}>
          <Typography.Text type="secondary">
            {t('dispatch.vehiclesUsed', {
              used: summary.vehicles_used ?? 0,
              available: summary.vehicles_available ?? 0,
            })}
            {summary.stopped_by
              ? ` · ${t('dispatch.stoppedBy', {
                  why: summary.stopped_by_text ?? summary.stopped_by,
                  seconds: (summary.solve_seconds ?? 0).toFixed(1),
                })}`
              : ''}
          </Typography.Text>
        </Descriptions.Item>
      </Descriptions>
      {refused.length > 0 && (
        <Space orientation="vertical" size={2} style={{ marginTop: 8 }}>
          <Typography.Text strong>{t('dispatch.refusedAtCommit')}</Typography.Text>
          {refused.map((r) => (
            <Typography.Text key={r.trip_id} type="warning">
              {t('dispatch.refusedTrip', { trip: r.trip_id, reason: r.reason })}
            </Typography.Text>
          ))}
        </Space>
      )}
      <Typography.Title level={5} style={{ marginTop: 12 }}>
        {t('dispatch.unserved')}
      </Typography.Title>
      <Table<UnservedTrip>
        size="small"
        rowKey="trip_id"
        dataSource={unserved}
        pagination={unserved.length > 10 ? { pageSize: 10, size: 'small' } : false}
        locale={{ emptyText: t('dispatch.none') }}
        data-testid="unserved-table"
        columns={[
          { title: t('dispatch.trip'), dataIndex: 'trip_id', width: 80, render: (id: number) => `#${id}` },
          {
            title: t('dispatch.priority'),
            dataIndex: 'priority',
            width: 110,
            render: (value: string) => label(words, 'priority', value, language),
          },
          { title: t('dispatch.reason'), dataIndex: 'reason' },
        ]}
      />
    </div>
  );
}
