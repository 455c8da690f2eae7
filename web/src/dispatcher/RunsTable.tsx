import { Alert, Table, Tag, Typography } from 'antd';

import { useErrorText } from '../errors';
import { formatChinaDateTime, formatChinaWindow } from '../time';
import { servedOfOffered } from './dispatch';
import DispatchResult from './DispatchResult';
import { useText, type MessageKey } from './messages';
import { useRuns } from './queries';
import type { DispatchRun } from './types';

const RUN_COLOURS: Record<string, string> = { running: 'processing', done: 'success', failed: 'error' };

/** The history of dispatch runs, newest first, each with its result when it has one. */
export default function RunsTable() {
  const { t } = useText();
  const describe = useErrorText();
  const runs = useRuns();
  const statusText = (status: string) =>
    ['running', 'done', 'failed'].includes(status) ? t(`runs.statuses.${status}` as MessageKey) : status;
  return (
    <>
      {runs.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(runs.error) })} />}
      <Table<DispatchRun>
        rowKey="id"
        size="small"
        loading={runs.isLoading}
        dataSource={runs.data?.items ?? []}
        pagination={false}
        locale={{ emptyText: t('runs.empty') }}
        data-testid="runs-table"
        expandable={{
          rowExpandable: (run) => run.summary != null || Boolean(run.error),
          expandedRowRender: (run) =>
            run.error ? (
              <Typography.Text type="danger">{run.error}</Typography.Text>
            ) : (
              <DispatchResult summary={run.summary ?? {}} />
            ),
        }}
        columns={[
          { title: t('runs.id'), dataIndex: 'id', width: 70, render: (id: number) => `#${id}` },
          {
            title: t('runs.status'),
            dataIndex: 'status',
            width: 100,
            render: (status: string) => (
              <Tag color={RUN_COLOURS[status] ?? 'default'} data-testid="run-status">
                {statusText(status)}
              </Tag>
            ),
          },
          { title: t('runs.actor'), dataIndex: 'actor', width: 120 },
          {
            title: t('runs.window'),
            key: 'window',
            render: (_: unknown, run) => formatChinaWindow(run.window_start, run.window_end),
          },
          {
            title: t('runs.started'),
            dataIndex: 'started_at',
            width: 150,
            render: (value: string) => formatChinaDateTime(value),
          },
          {
            title: t('runs.finished'),
            dataIndex: 'finished_at',
            width: 150,
            render: (value: string | null) => formatChinaDateTime(value),
          },
          { title: t('runs.timeLimit'), dataIndex: 'time_limit', width: 90, render: (s: number) => t('runs.seconds', { s }) },
          {
            title: t('runs.summary'),
            key: 'summary',
            width: 120,
            render: (_: unknown, run) => {
              if (!run.summary?.served) return '—';
              const { served, offered } = servedOfOffered({
                served: run.summary.served,
                offered: run.summary.offered ?? {},
              });
              return t('runs.servedOf', { served, offered });
            },
          },
        ]}
      />
    </>
  );
}
