import { CarOutlined, FlagOutlined, ReloadOutlined } from '@ant-design/icons';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Empty, Form, InputNumber, Modal, Space, Spin, Tag, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { getJson, MAX_PAGE, sendJson, tripQuery, useVocabulary, type Page, type Trip } from '../api';
import { useMe } from '../auth';
import { asError, useErrorText } from '../errors';
import { useFieldErrors, wholeNumberRule } from '../forms';
import { isLanguage } from '../i18n';
import { chinaTime, chinaToday, formatChinaDateTime } from '../time';
import { label, STATUS_COLOURS } from '../vocabulary';

/** An odometer reading, as fleet/schemas.py OdometerIn bounds it: whole km. */
export const ODOMETER = { min: 0, max: 3_000_000 } as const;

type Step = 'start' | 'complete';

/** A window as a driver reads it on the day: `09:00–09:30` (the day is today; another day is written out). */
function clockWindow(trip: Trip, today: string): string {
  const a = chinaTime(trip.assignment?.starts_at ?? trip.earliest_pickup);
  const from = chinaTime(trip.earliest_pickup);
  const to = chinaTime(trip.latest_pickup);
  const day = a.date === today ? '' : `${a.date} `;
  return `${day}${from.time}–${to.time}`;
}

function OdometerDialog({ trip, step, onClose }: { trip: Trip; step: Step; onClose: () => void }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<{ odometer_km: number }>();
  const [sending, setSending] = useState(false);
  const [refused, setRefused] = useState<Error | null>(null);
  const describe = useErrorText();
  const fieldErrors = useFieldErrors(form);

  const submit = async ({ odometer_km }: { odometer_km: number }) => {
    setSending(true);
    setRefused(null);
    try {
      await sendJson<Trip>('POST', `/trips/${trip.id}/${step}`, { odometer_km });
      void message.success(t(step === 'start' ? 'driver.started' : 'driver.completed', { id: trip.id }));
      void queryClient.invalidateQueries({ queryKey: ['trips'] });
      onClose();
    } catch (error) {
      if (!fieldErrors.showRefusal(error, ['odometer_km'])) setRefused(asError(error));
    } finally {
      setSending(false);
    }
  };

  return (
    <Modal
      open
      title={t(step === 'start' ? 'driver.startTitle' : 'driver.completeTitle', { id: trip.id })}
      onCancel={onClose}
      onOk={() => form.submit()}
      okText={t(step === 'start' ? 'driver.start' : 'driver.complete')}
      cancelText={t('app.cancel')}
      confirmLoading={sending}
      okButtonProps={{ 'data-testid': 'odometer-submit' } as Record<string, string>}
      destroyOnHidden
      width={360}
    >
      {refused !== null && <Alert type="error" showIcon title={describe(refused)} style={{ marginBottom: 12 }} />}
      <Form
        form={form}
        layout="vertical"
        onFinish={submit}
        initialValues={step === 'complete' && trip.odometer_start_km != null ? { odometer_km: trip.odometer_start_km } : {}}
      >
        <Form.Item
          name="odometer_km"
          label={t('driver.odometer')}
          extra={step === 'complete' && trip.odometer_start_km != null ? t('driver.startReading', { km: trip.odometer_start_km }) : undefined}
          rules={[
            { required: true, message: t('driver.odometerRequired') },
            wholeNumberRule(ODOMETER.min, ODOMETER.max, t('driver.odometerRange', { max: ODOMETER.max.toLocaleString('en') })),
          ]}
        >
          {/* No min/max/precision: those would clamp or round the reading as typed (see wholeNumberRule). */}
          <InputNumber
            step={1}
            inputMode="numeric"
            suffix="km"
            autoFocus
            style={{ width: '100%' }}
            size="large"
            data-testid="odometer"
          />
        </Form.Item>
      </Form>
    </Modal>
  );
}

/**
 * 今日任务: a driver's trips of the day (China date), in pickup order, on a phone. 出车 and 收车 ask for the odometer;
 * a reading the server refuses (below the last one) is shown under the field.
 */
export default function DriverPage() {
  const { t, i18n } = useTranslation();
  const describe = useErrorText();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const me = useMe();
  const vocabulary = useVocabulary();
  const today = chinaToday();
  const trips = useQuery({
    queryKey: ['trips', 'driver', today],
    queryFn: ({ signal }) =>
      getJson<Page<Trip>>(`/trips${tripQuery({ since: today, until: today, sort: 'pickup' }, MAX_PAGE, 0)}`, signal),
  });
  const [acting, setActing] = useState<{ trip: Trip; step: Step } | null>(null);
  const items = (trips.data?.items ?? []).filter((trip) => trip.status !== 'cancelled' && trip.status !== 'rejected');

  return (
    <div className="gongche-phone">
      <Space style={{ width: '100%', justifyContent: 'space-between', marginBottom: 12 }}>
        <div>
          <Typography.Title level={4} style={{ margin: 0 }}>
            {t('driver.title')}
          </Typography.Title>
          <Typography.Text type="secondary" data-testid="driver-day">
            {today} · {me.driver_name ?? me.name}
          </Typography.Text>
        </div>
        <Button icon={<ReloadOutlined />} onClick={() => void trips.refetch()} loading={trips.isFetching} aria-label={t('app.refresh')} />
      </Space>
      {trips.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(trips.error) })} style={{ marginBottom: 12 }} />}
      {trips.isPending && <Spin style={{ display: 'block', margin: '48px auto' }} />}
      {!trips.isPending && items.length === 0 && <Empty description={t('driver.empty')} />}
      <Space orientation="vertical" size={12} style={{ width: '100%' }}>
        {items.map((trip) => (
          <Card
            key={trip.id}
            size="small"
            data-testid="driver-trip"
            data-trip={trip.id}
            title={
              <Space size={8}>
                <span data-testid="driver-window">{clockWindow(trip, today)}</span>
                <Typography.Text type="secondary">#{trip.id}</Typography.Text>
              </Space>
            }
            extra={
              <Tag color={STATUS_COLOURS[trip.status] ?? 'default'} data-testid="trip-status">
                {label(vocabulary.data, 'trip_status', trip.status, language)}
              </Tag>
            }
          >
            <dl className="gongche-facts">
              <dt>{t('driver.from')}</dt>
              <dd>{trip.pickup.address}</dd>
              <dt>{t('driver.to')}</dt>
              <dd>{trip.dropoff.address}</dd>
              <dt>{t('driver.vehicle')}</dt>
              <dd data-testid="driver-plate">{trip.assignment?.plate ?? '—'}</dd>
              <dt>{t('driver.purpose')}</dt>
              <dd>
                {trip.purpose} · {t('driver.passengers', { count: trip.passengers })} · {label(vocabulary.data, 'priority', trip.priority, language)}
              </dd>
              {trip.started_at && (
                <>
                  <dt>{t('driver.out')}</dt>
                  <dd>
                    {formatChinaDateTime(trip.started_at)}
                    {trip.odometer_start_km != null ? ` · ${trip.odometer_start_km} km` : ''}
                  </dd>
                </>
              )}
              {trip.completed_at && (
                <>
                  <dt>{t('driver.in')}</dt>
                  <dd>
                    {formatChinaDateTime(trip.completed_at)}
                    {trip.odometer_end_km != null ? ` · ${trip.odometer_end_km} km` : ''}
                  </dd>
                </>
              )}
            </dl>
            {trip.status === 'assigned' && (
              <Button type="primary" block size="large" icon={<CarOutlined />} onClick={() => setActing({ trip, step: 'start' })} data-testid="driver-start">
                {t('driver.start')}
              </Button>
            )}
            {trip.status === 'in_progress' && (
              <Button type="primary" block size="large" icon={<FlagOutlined />} onClick={() => setActing({ trip, step: 'complete' })} data-testid="driver-complete">
                {t('driver.complete')}
              </Button>
            )}
          </Card>
        ))}
      </Space>
      {acting !== null && <OdometerDialog trip={acting.trip} step={acting.step} onClose={() => setActing(null)} />}
    </div>
  );
}
