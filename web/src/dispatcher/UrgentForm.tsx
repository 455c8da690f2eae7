import { AlertOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import {
  Alert,
  App,
  AutoComplete,
  Button,
  Col,
  DatePicker,
  Form,
  Input,
  InputNumber,
  List,
  Modal,
  Result,
  Row,
  Select,
  Typography,
} from 'antd';
import type { FormInstance } from 'antd';
import type { Dayjs } from 'dayjs';
import { useRef, useState } from 'react';

import { ApiError, RequestKeys, useVocabulary } from '../api';
import { TRIP_BOUNDS } from '../booking';
import { asError, useErrorText } from '../errors';
import { formItemFor, lengthRule, numberRule, useFieldErrors, wholeNumberRule } from '../forms';
import { formatChinaDateTime } from '../time';
import { label } from '../vocabulary';
import {
  POINT_BOUNDS,
  tripOf,
  URGENT_ALIASES,
  URGENT_ITEMS,
  WALL_CLOCK,
  wallClock,
  type UrgentValues as Values,
} from './forms';
import { useText } from './messages';
import { bookTrip, refreshDay, useAgencyList, usePlaces } from './queries';
import type { Booking } from './types';

/** An address box that offers known places (`GET /places`) and fills the point's coordinates from the one chosen. */
function PlaceField({ form, prefix }: { form: FormInstance<Values>; prefix: 'pickup' | 'dropoff' }) {
  const { t } = useText();
  const [query, setQuery] = useState('');
  const places = usePlaces(query);
  const required = t('urgent.required');
  const hits = places.data ?? [];
  return (
    <Row gutter={8}>
      <Col span={12}>
        <Form.Item
          name={`${prefix}_address`}
          label={t(prefix === 'pickup' ? 'urgent.pickupAddress' : 'urgent.dropoffAddress')}
          rules={[{ required: true, whitespace: true, message: t('urgent.required') }]}
        >
          <AutoComplete
            placeholder={t('urgent.searchPlace')}
            onSearch={setQuery}
            options={[...new Map(hits.map((p) => [p.name, p])).values()].map((p) => ({ value: p.name, label: p.name }))}
            onSelect={(value: string) => {
              const hit = hits.find((p) => p.name === value);
              if (hit) {
                form.setFieldsValue({
                  [`${prefix}_address`]: hit.name,
                  [`${prefix}_lat`]: hit.lat,
                  [`${prefix}_lon`]: hit.lon,
                } as Partial<Values>);
              }
            }}
            data-testid={`${prefix}-address`}
          />
        </Form.Item>
      </Col>
      <Col span={6}>
        <Form.Item
          name={`${prefix}_lat`}
          label={t('urgent.lat')}
          rules={[
            { required: true, message: required },
            numberRule(POINT_BOUNDS.lat.min, POINT_BOUNDS.lat.max, t('urgent.latRange', POINT_BOUNDS.lat)),
          ]}
        >
          {/* No min/max: they would clamp what was typed (see numberRule in ../forms). */}
          <InputNumber step={0.001} style={{ width: '100%' }} data-testid={`${prefix}-lat`} />
        </Form.Item>
      </Col>
      <Col span={6}>
        <Form.Item
          name={`${prefix}_lon`}
          label={t('urgent.lon')}
          rules={[
            { required: true, message: required },
            numberRule(POINT_BOUNDS.lon.min, POINT_BOUNDS.lon.max, t('urgent.lonRange', POINT_BOUNDS.lon)),
          ]}
        >
          <InputNumber step={0.001} style={{ width: '100%' }} data-testid={`${prefix}-lon`} />
        </Form.Item>
      </Col>
    </Row>
  );
}

/** Where the emergency went: the vehicle, what it displaced and where that went, pickups moved — or why not. */
export function UrgentOutcome({ booking }: { booking: Booking }) {
  const { t } = useText();
  const urgent = booking.urgent;
  if (!urgent) return <Alert type="info" showIcon title={t('urgent.booked', { id: booking.id })} />;
  const placed = urgent.vehicle !== null;
  return (
    <div data-testid="urgent-outcome">
      <Result
        status={placed ? 'success' : 'warning'}
        title={
          <span data-testid="urgent-vehicle">
            {placed
              ? t('urgent.placed', { vehicle: urgent.vehicle, ms: urgent.milliseconds.toFixed(0) })
              : t('urgent.notPlaced', { reason: urgent.reason ?? '' })}
          </span>
        }
        subTitle={t('urgent.booked', { id: booking.id })}
        style={{ padding: '16px 0' }}
      />
      {urgent.displaced.length > 0 && (
        <List
          size="small"
          header={<Typography.Text strong>{t('urgent.displaced')}</Typography.Text>}
          dataSource={urgent.displaced}
          data-testid="urgent-displaced"
          renderItem={(trip) => {
            const plate = urgent.replaced[String(trip)];
            return (
              <List.Item>
                {plate
                  ? t('urgent.replacedBy', { trip, plate })
                  : t('urgent.unplacedTrip', { trip })}
              </List.Item>
            );
          }}
        />
      )}
      {urgent.moved.length > 0 && (
        <List
          size="small"
          header={<Typography.Text strong>{t('urgent.moved')}</Typography.Text>}
          dataSource={urgent.moved}
          data-testid="urgent-moved"
          renderItem={(m) => (
            <List.Item>
              {t('urgent.movedTrip', {
                trip: m.trip_id,
                plate: m.plate,
                before: formatChinaDateTime(m.before),
                after: formatChinaDateTime(m.after),
              })}
            </List.Item>
          )}
        />
      )}
    </div>
  );
}

/** 应急用车: an emergency the dispatcher books for an agency, placed into the day at once. */
export default function UrgentForm({ day }: { day: string }) {
  const { t, language } = useText();
  const { message } = App.useApp();
  const client = useQueryClient();
  const agencies = useAgencyList();
  const words = useVocabulary().data;
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [booking, setBooking] = useState<Booking | null>(null);
  const [refusal, setRefusal] = useState<Error | null>(null);
  const [form] = Form.useForm<Values>();
  const describe = useErrorText();
  const fieldErrors = useFieldErrors(form, open && booking === null);
  const keys = useRef(new RequestKeys());

  const show = () => {
    form.resetFields();
    form.setFieldsValue({
      passengers: 1,
      dwell_min: 30,
      earliest: wallClock(day, '10:00'),
      latest: wallClock(day, '10:15'),
    });
    setBooking(null);
    setRefusal(null);
    setOpen(true);
  };

  const submit = async (values: Values) => {
    setBusy(true);
    setRefusal(null);
    try {
      const trip = tripOf(values);
      const booked = await bookTrip(trip, keys.current.keyFor(trip));
      keys.current.forget();
      setBooking(booked);
    } catch (error) {
      // A refusal naming one of the form's fields is shown under it; any other above the form.
      if (fieldErrors.showRefusal(error, URGENT_ITEMS, URGENT_ALIASES)) {
        const item = formItemFor((error as ApiError).field, URGENT_ITEMS, URGENT_ALIASES);
        if (item) form.scrollToField(item);
        return;
      }
      setRefusal(asError(error));
      if (!(error instanceof ApiError) || error.status >= 500) message.error(t('urgent.refused', { detail: describe(error) }));
    } finally {
      setBusy(false);
      void refreshDay(client);
    }
  };

  return (
    <>
      <Button danger icon={<AlertOutlined />} onClick={show} data-testid="urgent-open">
        {t('urgent.open')}
      </Button>
      <Modal
        open={open}
        title={t('urgent.title')}
        width={820}
        onCancel={() => !busy && setOpen(false)}
        destroyOnHidden
        footer={
          booking ? (
            <Button onClick={() => setOpen(false)} data-testid="urgent-close">
              {t('dispatch.close')}
            </Button>
          ) : (
            <Button type="primary" danger loading={busy} onClick={() => form.submit()} data-testid="urgent-submit">
              {t('urgent.submit')}
            </Button>
          )
        }
      >
        <div data-testid="urgent-dialog">
          {booking ? (
            <UrgentOutcome booking={booking} />
          ) : (
            <Form<Values> form={form} layout="vertical" onFinish={(values) => void submit(values)}>
              <Typography.Paragraph type="secondary">{t('urgent.intro')}</Typography.Paragraph>
              {refusal && (
                <Alert
                  type="error"
                  showIcon
                  title={t('urgent.refused', { detail: describe(refusal) })}
                  style={{ marginBottom: 16 }}
                  data-testid="urgent-refused"
                />
              )}
              <Row gutter={8}>
                <Col span={12}>
                  <Form.Item
                    name="agency"
                    label={t('urgent.agency')}
                    rules={[{ required: true, message: t('urgent.required') }]}
                  >
                    <Select
                      showSearch
                      optionFilterProp="label"
                      loading={agencies.isLoading}
                      options={(agencies.data ?? []).map((a) => ({ value: a.code, label: `${a.name} (${a.code})` }))}
                      data-testid="urgent-agency"
                    />
                  </Form.Item>
                </Col>
                <Col span={6}>
                  <Form.Item
                    name="passengers"
                    label={t('urgent.passengers')}
                    rules={[
                      { required: true, message: t('urgent.required') },
                      wholeNumberRule(
                        TRIP_BOUNDS.passengers.min,
                        TRIP_BOUNDS.passengers.max,
                        t('urgent.passengersRange', TRIP_BOUNDS.passengers),
                      ),
                    ]}
                  >
                    {/* No min/max/precision: they would clamp or round what was typed (see wholeNumberRule). */}
                    <InputNumber style={{ width: '100%' }} data-testid="urgent-passengers" />
                  </Form.Item>
                </Col>
                <Col span={6}>
                  <Form.Item
                    name="dwell_min"
                    label={t('urgent.dwell')}
                    rules={[
                      { required: true, message: t('urgent.required') },
                      wholeNumberRule(TRIP_BOUNDS.dwell.min, TRIP_BOUNDS.dwell.max, t('urgent.dwellRange', TRIP_BOUNDS.dwell)),
                    ]}
                  >
                    <InputNumber style={{ width: '100%' }} data-testid="urgent-dwell" />
                  </Form.Item>
                </Col>
              </Row>
              <Form.Item
                name="purpose"
                label={t('urgent.purpose')}
                rules={[
                  { required: true, whitespace: true, message: t('urgent.required') },
                  // fleet/schemas.py: the purpose and the priority's reason (`Reason`) it is sent as.
                  lengthRule(
                    TRIP_BOUNDS.priorityReason.min,
                    TRIP_BOUNDS.priorityReason.max,
                    t('urgent.purposeLength', TRIP_BOUNDS.priorityReason),
                  ),
                ]}
              >
                <Input.TextArea rows={2} maxLength={TRIP_BOUNDS.priorityReason.max} data-testid="urgent-purpose" />
              </Form.Item>
              <Form.Item
                name="approval_basis"
                label={t('urgent.approvalBasis')}
                extra={t('urgent.approvalBasisHint')}
                rules={[
                  { required: true, whitespace: true, message: t('urgent.required') },
                  lengthRule(
                    TRIP_BOUNDS.priorityReason.min,
                    TRIP_BOUNDS.priorityReason.max,
                    t('urgent.approvalBasisLength', TRIP_BOUNDS.priorityReason),
                  ),
                ]}
              >
                <Input maxLength={TRIP_BOUNDS.priorityReason.max} data-testid="urgent-approval-basis" />
              </Form.Item>
              <PlaceField form={form} prefix="pickup" />
              <PlaceField form={form} prefix="dropoff" />
              <Row gutter={8}>
                <Col span={12}>
                  <Form.Item
                    name="earliest"
                    label={t('urgent.earliest')}
                    rules={[{ required: true, message: t('urgent.required') }]}
                  >
                    <DatePicker
                      showTime={{ format: 'HH:mm' }}
                      format={WALL_CLOCK}
                      style={{ width: '100%' }}
                      data-testid="urgent-earliest"
                    />
                  </Form.Item>
                </Col>
                <Col span={12}>
                  <Form.Item
                    name="latest"
                    label={t('urgent.latest')}
                    dependencies={['earliest']}
                    rules={[
                      { required: true, message: t('urgent.required') },
                      ({ getFieldValue }) => ({
                        validator: (_, value: Dayjs | null) => {
                          const earliest = getFieldValue('earliest') as Dayjs | null;
                          return !value || !earliest || !value.isBefore(earliest)
                            ? Promise.resolve()
                            : Promise.reject(new Error(t('urgent.latestBefore')));
                        },
                      }),
                    ]}
                  >
                    <DatePicker
                      showTime={{ format: 'HH:mm' }}
                      format={WALL_CLOCK}
                      style={{ width: '100%' }}
                      data-testid="urgent-latest"
                    />
                  </Form.Item>
                </Col>
              </Row>
              <Form.Item name="categories" label={t('urgent.categories')} extra={t('urgent.categoriesHint')}>
                <Select
                  mode="multiple"
                  allowClear
                  options={(words?.category ?? []).map((c) => ({
                    value: c.value,
                    label: label(words, 'category', c.value, language),
                  }))}
                  data-testid="urgent-categories"
                />
              </Form.Item>
            </Form>
          )}
        </div>
      </Modal>
    </>
  );
}
