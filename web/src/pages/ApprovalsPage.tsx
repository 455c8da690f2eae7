import { CheckOutlined, CloseOutlined } from '@ant-design/icons';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, Modal, Space, Table, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';

import { getJson, MAX_PAGE, sendJson, tripQuery, useVocabulary, type Page, type Trip } from '../api';
import { decideAll, REJECT_REASON, type Outcome } from '../approvals';
import { useErrorText } from '../errors';
import { useFieldErrors } from '../forms';
import { isLanguage } from '../i18n';
import { formatChinaDateTime, formatChinaWindow } from '../time';
import { label } from '../vocabulary';

/**
 * 审批: the agency's trips waiting for a decision, oldest pickup first. Several may be approved or rejected at once
 * (a rejection asks one reason for all); each trip's outcome is listed. The list follows live changes.
 */
export default function ApprovalsPage() {
  const { t, i18n } = useTranslation();
  const describe = useErrorText();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const queryClient = useQueryClient();
  const vocabulary = useVocabulary();
  const words = vocabulary.data;
  const waiting = useQuery({
    queryKey: ['trips', 'approvals'],
    queryFn: ({ signal }) => getJson<Page<Trip>>(`/trips${tripQuery({ status: ['requested'], sort: 'pickup' }, MAX_PAGE, 0)}`, signal),
  });
  const [selected, setSelected] = useState<number[]>([]);
  const [working, setWorking] = useState<'approve' | 'reject' | null>(null);
  const [outcome, setOutcome] = useState<{ decision: 'approve' | 'reject'; results: Outcome[] } | null>(null);
  const [rejecting, setRejecting] = useState(false);
  const [form] = Form.useForm<{ reason: string }>();
  useFieldErrors(form, rejecting);
  const rows = useMemo(() => waiting.data?.items ?? [], [waiting.data]);

  // A trip decided elsewhere leaves the list: it leaves the selection too.
  useEffect(() => {
    const present = new Set(rows.map((r) => r.id));
    setSelected((current) => (current.every((id) => present.has(id)) ? current : current.filter((id) => present.has(id))));
  }, [rows]);

  const run = async (decision: 'approve' | 'reject', note: string | null) => {
    setWorking(decision);
    const ids = [...selected].sort((a, b) => a - b);
    const results = await decideAll(ids, (id) =>
      sendJson<Trip>('POST', `/trips/${id}/${decision}`, decision === 'reject' ? { note } : {}),
    );
    setOutcome({ decision, results });
    setSelected(results.filter((r) => !r.ok).map((r) => r.id)); // what failed stays selected, to try again
    setWorking(null);
    await queryClient.invalidateQueries({ queryKey: ['trips'] });
  };

  const columns: ColumnsType<Trip> = [
    { title: t('trips.id'), dataIndex: 'id', width: 80 },
    { title: t('trips.purpose'), dataIndex: 'purpose', ellipsis: true },
    { title: t('approvals.requestedBy'), dataIndex: 'requested_by', width: 120, render: (value: string | null) => value ?? '—' },
    { title: t('trips.priority'), dataIndex: 'priority', width: 110, render: (value: string) => label(words, 'priority', value, language) },
    {
      title: t('trips.pickupWindow'),
      key: 'window',
      width: 200,
      render: (_: unknown, trip: Trip) => <span data-testid="pickup-window">{formatChinaWindow(trip.earliest_pickup, trip.latest_pickup)}</span>,
    },
    { title: t('trips.pickup'), key: 'pickup', ellipsis: true, render: (_: unknown, trip: Trip) => trip.pickup.address },
    { title: t('trips.dropoff'), key: 'dropoff', ellipsis: true, render: (_: unknown, trip: Trip) => trip.dropoff.address },
    { title: t('trips.passengers'), dataIndex: 'passengers', width: 90, align: 'right' },
    { title: t('trips.createdAt'), dataIndex: 'created_at', width: 150, render: (value: string) => formatChinaDateTime(value) },
  ];

  const failed = outcome?.results.filter((r) => !r.ok) ?? [];
  const passed = outcome?.results.filter((r) => r.ok) ?? [];

  return (
    <Card
      title={t('approvals.title')}
      extra={<Typography.Text type="secondary">{t('approvals.intro')}</Typography.Text>}
    >
      {outcome !== null && (
        <Alert
          type={failed.length === 0 ? 'success' : passed.length === 0 ? 'error' : 'warning'}
          showIcon
          closable={{ onClose: () => setOutcome(null) }}
          style={{ marginBottom: 16 }}
          data-testid="decision-results"
          title={t(outcome.decision === 'approve' ? 'approvals.approvedCount' : 'approvals.rejectedCount', {
            ok: passed.length,
            failed: failed.length,
          })}
          description={
            <ul style={{ margin: 0, paddingInlineStart: 20 }}>
              {outcome.results.map((r) => (
                <li key={r.id} data-testid="decision-result" data-trip={r.id} data-ok={r.ok ? 'true' : 'false'}>
                  {r.ok
                    ? t(outcome.decision === 'approve' ? 'approvals.approvedOne' : 'approvals.rejectedOne', { id: r.id })
                    : t('approvals.failedOne', { id: r.id, detail: r.error ? describe(r.error) : '' })}
                </li>
              ))}
            </ul>
          }
        />
      )}
      {waiting.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(waiting.error) })} style={{ marginBottom: 16 }} />}
      <Space style={{ marginBottom: 16 }} wrap>
        <Button
          type="primary"
          icon={<CheckOutlined />}
          disabled={selected.length === 0 || working !== null}
          loading={working === 'approve'}
          onClick={() => void run('approve', null)}
          data-testid="approve-selected"
        >
          {t('approvals.approve', { count: selected.length })}
        </Button>
        <Button
          danger
          icon={<CloseOutlined />}
          disabled={selected.length === 0 || working !== null}
          loading={working === 'reject'}
          onClick={() => setRejecting(true)}
          data-testid="reject-selected"
        >
          {t('approvals.reject', { count: selected.length })}
        </Button>
        <Typography.Text type="secondary" data-testid="approvals-total">
          {t('approvals.waiting', { count: waiting.data?.total ?? 0 })}
        </Typography.Text>
      </Space>
      <Table<Trip>
        rowKey="id"
        size="middle"
        columns={columns}
        dataSource={rows}
        loading={waiting.isFetching}
        pagination={false}
        scroll={{ x: 1200 }}
        locale={{ emptyText: t('approvals.empty') }}
        rowSelection={{
          selectedRowKeys: selected,
          onChange: (keys) => setSelected(keys.map(Number)),
        }}
        data-testid="approvals-table"
      />
      <Modal
        title={t('approvals.rejectTitle', { count: selected.length })}
        open={rejecting}
        onCancel={() => setRejecting(false)}
        onOk={() => form.submit()}
        okText={t('approvals.rejectOk')}
        cancelText={t('app.cancel')}
        okButtonProps={{ danger: true }}
        destroyOnHidden
      >
        <Form
          form={form}
          layout="vertical"
          onFinish={({ reason }) => {
            setRejecting(false);
            void run('reject', reason.trim());
          }}
        >
          <Form.Item
            name="reason"
            label={t('approvals.reason')}
            rules={[
              {
                validator: (_, value: string | undefined) => {
                  const length = (value ?? '').trim().length;
                  return length >= REJECT_REASON.min && length <= REJECT_REASON.max
                    ? Promise.resolve()
                    : Promise.reject(new Error(t('approvals.reasonRequired', REJECT_REASON)));
                },
              },
            ]}
          >
            <Input.TextArea rows={3} maxLength={REJECT_REASON.max} showCount autoFocus data-testid="reject-reason" />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
