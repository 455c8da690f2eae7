import { PrinterOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Col, DatePicker, Form, Input, InputNumber, Result, Row, Select, Space, TimePicker, Typography } from 'antd';
import dayjs, { type Dayjs } from 'dayjs';
import { useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';

import { API, ApiError, RequestKeys, sendRetrying, useVocabulary, type Trip } from '../api';
import { BOOK_ALIASES, BOOK_ITEMS, REASON_REQUIRED, REASONED_PRIORITIES, TRIP_BOUNDS, tripBody, type BookFields as Fields } from '../booking';
import { asError, useErrorText } from '../errors';
import { formItemFor, useFieldErrors, wholeNumberRule } from '../forms';
import { isLanguage } from '../i18n';
import { chinaToday, formatChinaWindow } from '../time';
import { label } from '../vocabulary';
import PlaceInput, { isPlace } from './PlaceInput';

/**
 * 用车申请: a requester (or approver) books a trip for its agency. The places are searched among known ones or
 * picked on a map; the window is a day and two clock times in China time. The server judges the booking: a refusal
 * naming a field is shown under that field.
 */
export default function BookPage() {
  const { t, i18n } = useTranslation();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const vocabulary = useVocabulary();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<Fields>();
  const keys = useRef(new RequestKeys());
  const [sending, setSending] = useState(false);
  const [refused, setRefused] = useState<Error | null>(null);
  const [booked, setBooked] = useState<Trip | null>(null);
  const describe = useErrorText();
  const fieldErrors = useFieldErrors(form);
  const today = chinaToday();

  const priorities = useMemo(
    () => (vocabulary.data?.priority ?? []).map((term) => ({ value: term.value, label: label(vocabulary.data, 'priority', term.value, language) })),
    [vocabulary.data, language],
  );
  const categories = useMemo(
    () => (vocabulary.data?.category ?? []).map((term) => ({ value: term.value, label: label(vocabulary.data, 'category', term.value, language) })),
    [vocabulary.data, language],
  );

  const initial: Partial<Fields> = {
    priority: 'routine',
    categories: [],
    passengers: 1,
    dwell_min: 0,
    day: dayjs(today),
    pickup: null,
    dropoff: null,
  };

  const submit = async (fields: Fields) => {
    setSending(true);
    setRefused(null);
    try {
      const body = tripBody(fields);
      const trip = await sendRetrying<Trip>('POST', '/trips', body, keys.current.keyFor(body));
      keys.current.forget();
      setBooked(trip);
      void queryClient.invalidateQueries({ queryKey: ['trips'] });
    } catch (error) {
      if (fieldErrors.showRefusal(error, BOOK_ITEMS, BOOK_ALIASES)) {
        const item = formItemFor((error as ApiError).field, BOOK_ITEMS, BOOK_ALIASES);
        if (item) form.scrollToField(item);
      } else {
        setRefused(asError(error));
      }
    } finally {
      setSending(false);
    }
  };

  if (booked !== null) {
    return (
      <Card style={{ maxWidth: 760, margin: '0 auto' }}>
        <Result
          status="success"
          title={<span data-testid="booked">{t('book.booked', { id: booked.id })}</span>}
          subTitle={`${booked.purpose} · ${formatChinaWindow(booked.earliest_pickup, booked.latest_pickup)} · ${label(vocabulary.data, 'trip_status', booked.status, language)}`}
          extra={[
            <Button key="slip" icon={<PrinterOutlined />} href={`${API}/trips/${booked.id}/slip?format=html`} target="_blank" rel="noopener" data-testid="booked-slip">
              {t('trips.slip')}
            </Button>,
            <Link key="trips" to="/trips">
              <Button>{t('book.toTrips')}</Button>
            </Link>,
            <Button
              key="again"
              type="primary"
              onClick={() => {
                setBooked(null);
                form.resetFields();
              }}
            >
              {t('book.again')}
            </Button>,
          ]}
        />
      </Card>
    );
  }

  return (
    <Card title={t('book.title')} style={{ maxWidth: 960, margin: '0 auto' }} extra={<Typography.Text type="secondary">{t('trips.timeZoneNote')}</Typography.Text>}>
      {refused !== null && <Alert type="error" showIcon title={describe(refused)} style={{ marginBottom: 16 }} data-testid="book-error" />}
      <Form<Fields> form={form} layout="vertical" initialValues={initial} onFinish={submit} scrollToFirstError data-testid="book-form">
        <Form.Item
          name="purpose"
          label={t('book.purpose')}
          rules={[
            { required: true, whitespace: true, message: t('book.purposeRequired') },
            {
              validator: (_, value: string | undefined) => {
                const length = (value ?? '').trim().length;
                return length === 0 || (length >= TRIP_BOUNDS.purpose.min && length <= TRIP_BOUNDS.purpose.max)
                  ? Promise.resolve()
                  : Promise.reject(new Error(t('book.purposeLength', TRIP_BOUNDS.purpose)));
              },
            },
          ]}
        >
          <Input.TextArea rows={2} maxLength={TRIP_BOUNDS.purpose.max} showCount placeholder={t('book.purposeHint')} data-testid="book-purpose" />
        </Form.Item>
        <Row gutter={16}>
          <Col xs={24} md={8}>
            <Form.Item name="priority" label={t('book.priority')} rules={[{ required: true }]}>
              <Select options={priorities} loading={vocabulary.isPending} data-testid="book-priority" />
            </Form.Item>
          </Col>
          <Form.Item noStyle dependencies={['priority']}>
            {({ getFieldValue }) => {
              const priority = getFieldValue('priority') as string;
              if (!REASONED_PRIORITIES.includes(priority)) return null;
              return (
                <Col xs={24}>
                  <Form.Item
                    name="priority_reason"
                    label={t('book.priorityReason')}
                    rules={[
                      { required: priority === REASON_REQUIRED, whitespace: true, message: t('book.priorityReasonRequired') },
                      { min: TRIP_BOUNDS.priorityReason.min, max: TRIP_BOUNDS.priorityReason.max, message: t('book.priorityReasonLength', TRIP_BOUNDS.priorityReason) },
                    ]}
                  >
                    <Input maxLength={TRIP_BOUNDS.priorityReason.max} placeholder={t('book.priorityReasonHint')} data-testid="book-priority-reason" />
                  </Form.Item>
                </Col>
              );
            }}
          </Form.Item>
          <Col xs={24} md={10}>
            <Form.Item
              name="categories"
              label={t('book.categories')}
              extra={t('book.categoriesHint')}
              rules={[{ type: 'array', max: TRIP_BOUNDS.categories.max, message: t('book.categoriesMax', { count: TRIP_BOUNDS.categories.max }) }]}
            >
              <Select mode="multiple" allowClear options={categories} loading={vocabulary.isPending} data-testid="book-categories" />
            </Form.Item>
          </Col>
          <Col xs={24} md={6}>
            <Form.Item
              name="passengers"
              label={t('book.passengers')}
              rules={[
                { required: true, message: t('book.required') },
                wholeNumberRule(TRIP_BOUNDS.passengers.min, TRIP_BOUNDS.passengers.max, t('book.passengersRange', TRIP_BOUNDS.passengers)),
              ]}
            >
              {/* No min/max/precision: they would clamp or round what was typed (see wholeNumberRule). */}
              <InputNumber style={{ width: '100%' }} data-testid="book-passengers" />
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item
              name="pickup"
              label={t('book.pickup')}
              rules={[{ validator: (_, value: unknown) => (isPlace(value) ? Promise.resolve() : Promise.reject(new Error(t('book.placeRequired')))) }]}
            >
              <PlaceInput testId="book-pickup" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item
              name="dropoff"
              label={t('book.dropoff')}
              rules={[{ validator: (_, value: unknown) => (isPlace(value) ? Promise.resolve() : Promise.reject(new Error(t('book.placeRequired')))) }]}
            >
              <PlaceInput testId="book-dropoff" />
            </Form.Item>
          </Col>
        </Row>
        <Row gutter={16}>
          <Col xs={24} md={6}>
            <Form.Item
              name="day"
              label={t('book.day')}
              rules={[
                { required: true, message: t('book.required') },
                {
                  validator: (_, value: Dayjs | null | undefined) =>
                    !value || value.format('YYYY-MM-DD') >= today ? Promise.resolve() : Promise.reject(new Error(t('book.dayPast', { today }))),
                },
              ]}
            >
              {/* Past days are refused by the rule, not disabled: a disabled day typed in would silently become the
                  last good one when the field loses focus. */}
              <DatePicker style={{ width: '100%' }} format="YYYY-MM-DD" allowClear={false} data-testid="book-day" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="earliest" label={t('book.earliest')} rules={[{ required: true, message: t('book.required') }]}>
              <TimePicker style={{ width: '100%' }} format="HH:mm" minuteStep={5} needConfirm={false} data-testid="book-earliest" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="latest" label={t('book.latest')} rules={[{ required: true, message: t('book.required') }]}>
              <TimePicker style={{ width: '100%' }} format="HH:mm" minuteStep={5} needConfirm={false} data-testid="book-latest" />
            </Form.Item>
          </Col>
          <Col xs={24} md={6}>
            <Form.Item
              name="dwell_min"
              label={t('book.dwell')}
              rules={[
                { required: true, message: t('book.required') },
                wholeNumberRule(TRIP_BOUNDS.dwell.min, TRIP_BOUNDS.dwell.max, t('book.dwellRange', TRIP_BOUNDS.dwell)),
              ]}
            >
              <InputNumber
                step={15}
                suffix={t('book.minutes')}
                style={{ width: '100%' }}
                data-testid="book-dwell"
              />
            </Form.Item>
          </Col>
        </Row>
        <Space>
          <Button type="primary" htmlType="submit" loading={sending} data-testid="book-submit">
            {t('book.submit')}
          </Button>
          <Button htmlType="button" onClick={() => form.resetFields()}>
            {t('book.reset')}
          </Button>
        </Space>
      </Form>
    </Card>
  );
}
