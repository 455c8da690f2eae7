import { ReloadOutlined } from '@ant-design/icons';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Alert, Badge, Button, Card, Form, Grid, Input, Select, Table, Tabs, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table/interface';
import { useEffect, useMemo, useState, type HTMLAttributes } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';

import { allPages, ApiError, getJson, queryString, useAgencyNames, useVocabulary, type Page } from '../api';
import { useErrorText } from '../errors';
import { formItemFor, useFieldErrors } from '../forms';
import { isLanguage, type Language } from '../i18n';
import {
  isNewEnergy,
  MAX_SEARCH,
  quotaRows,
  REMINDER_DAYS,
  searchOf,
  vehiclesPath,
  viewOf,
  type Quota,
  type QuotaRow,
  type RegistryVehicle,
  type RegistryView,
  type Reminder,
  type ReminderList,
  type Tab,
} from '../registry';
import { label } from '../vocabulary';
import { ListFailure, openingRow, serverPagination } from './listParts';
import VehicleDrawer, { StatusTag } from './VehicleDrawer';

/** The filter form's items: each is the API's query parameter of the same name (a refusal shows under it). */
const ITEMS = ['agency', 'category', 'status', 'powertrain', 'q'] as const;

interface FilterValues {
  agency: string | null;
  category: string | null;
  status: string | null;
  powertrain: string | null;
  q: string;
}

function valuesOf(view: RegistryView): FilterValues {
  return { agency: view.agency, category: view.category, status: view.status, powertrain: view.powertrain, q: view.q };
}

function QuotaTable({ language, agencyName }: { language: Language; agencyName: (code: string) => string }) {
  const { t } = useTranslation();
  const describe = useErrorText();
  const vocabularies = useVocabulary().data;
  const quotas = useQuery({
    queryKey: ['quotas'],
    queryFn: ({ signal }) => allPages<Quota>('/quotas', signal),
  });
  const categories = useMemo(() => (vocabularies?.category ?? []).map((term) => term.value), [vocabularies]);
  const rows = useMemo(() => quotaRows(quotas.data ?? [], categories), [quotas.data, categories]);
  const error = quotas.error;
  const columns: ColumnsType<QuotaRow> = [
    { title: t('registry.agency'), dataIndex: 'agency', key: 'agency', render: (code: string) => agencyName(code) },
    {
      title: t('registry.category'),
      dataIndex: 'category',
      key: 'category',
      render: (category: string) => label(vocabularies, 'category', category, language),
    },
    { title: t('registry.quotas.limit'), dataIndex: 'limit', key: 'limit', align: 'right', width: 100 },
    {
      title: t('registry.quotas.held'),
      dataIndex: 'held',
      key: 'held',
      align: 'right',
      width: 100,
      render: (count: number) => <span data-testid="quota-held">{count}</span>,
    },
    {
      title: t('registry.quotas.room'),
      key: 'room',
      width: 140,
      align: 'right',
      render: (_: unknown, row: QuotaRow) =>
        row.over > 0 ? (
          <Tag color="error" data-testid="quota-over">
            {t('registry.quotas.over', { count: row.over })}
          </Tag>
        ) : (
          <span>{row.limit - row.held}</span>
        ),
    },
  ];
  const over = rows.filter((row) => row.over > 0).length;
  return (
    <>
      <Typography.Paragraph type="secondary">
        {t('registry.quotas.intro')}{' '}
        {over > 0 && (
          <Typography.Text type="danger" data-testid="quota-over-count">
            {t('registry.quotas.overCount', { count: over })}
          </Typography.Text>
        )}
      </Typography.Paragraph>
      {error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(error) })} style={{ marginBottom: 16 }} />}
      <Table<QuotaRow>
        rowKey="key"
        size="middle"
        columns={columns}
        dataSource={rows}
        loading={quotas.isFetching}
        locale={{ emptyText: t('registry.quotas.empty') }}
        pagination={{ pageSize: 50, hideOnSinglePage: true }}
        rowClassName={(row) => (row.over > 0 ? 'gongche-over-quota' : '')}
        onRow={(row) =>
          ({
            'data-testid': 'quota-row',
            'data-agency': row.agency,
            'data-category': row.category,
            'data-over': row.over > 0 ? 'true' : 'false',
          }) as HTMLAttributes<HTMLElement>
        }
        scroll={{ x: 640 }}
        data-testid="quota-table"
      />
    </>
  );
}

function ReminderTable({
  reminders,
  error,
  agencyName,
  onOpen,
}: {
  reminders: ReminderList | undefined;
  error: Error | null;
  agencyName: (code: string) => string;
  onOpen: (vehicleId: number) => void;
}) {
  const { t } = useTranslation();
  const describe = useErrorText();
  const when = (days: number) =>
    days < 0 ? (
      <Tag color="error">{t('registry.reminders.overdue', { count: -days })}</Tag>
    ) : days === 0 ? (
      <Tag color="warning">{t('registry.reminders.today')}</Tag>
    ) : (
      t('registry.reminders.inDays', { count: days })
    );
  const columns: ColumnsType<Reminder & { key: string }> = [
    { title: t('registry.reminders.due'), dataIndex: 'due_on', key: 'due', width: 120 },
    { title: t('registry.reminders.left'), dataIndex: 'days_left', key: 'left', width: 130, render: when },
    {
      title: t('registry.reminders.kind'),
      dataIndex: 'kind',
      key: 'kind',
      width: 140,
      render: (kind: string) => t(`registry.reminders.kinds.${kind}`, { defaultValue: kind }),
    },
    { title: t('registry.reminders.subject'), dataIndex: 'label', key: 'label', width: 130 },
    {
      title: t('registry.agency'),
      dataIndex: 'agency',
      key: 'agency',
      width: 180,
      ellipsis: true,
      render: (code: string | null) => (code ? agencyName(code) : '—'),
    },
    { title: t('registry.reminders.detail'), dataIndex: 'detail', key: 'detail' },
  ];
  const rows = (reminders?.items ?? []).map((item) => ({ ...item, key: `${item.subject}${item.subject_id}-${item.kind}` }));
  return (
    <>
      {error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(error) })} style={{ marginBottom: 16 }} />}
      {reminders && (
        <Typography.Paragraph type="secondary">
          {t('registry.reminders.intro', { days: REMINDER_DAYS, today: reminders.today, until: reminders.until })}
        </Typography.Paragraph>
      )}
      <Table
        rowKey="key"
        size="middle"
        columns={columns}
        dataSource={rows}
        locale={{ emptyText: t('registry.reminders.empty', { days: REMINDER_DAYS }) }}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        scroll={{ x: 900 }}
        onRow={(row) =>
          row.subject === 'vehicle'
            ? openingRow(() => onOpen(row.subject_id), { 'data-testid': 'reminder-row', 'data-kind': row.kind })
            : ({ 'data-testid': 'reminder-row', 'data-kind': row.kind } as HTMLAttributes<HTMLElement>)
        }
        data-testid="reminder-table"
      />
    </>
  );
}

/**
 * 车辆台账: the vehicles in the admin's scope (`GET /vehicles`), paged on the server and filtered by the route's own
 * filters (agency, category, status, text in the plate or model), kept in the address; the quotas against the
 * vehicles held; what falls due. A row opens the vehicle's record, where it is sealed, unsealed, sent to the
 * workshop or taken out, each with its reason.
 */
export default function VehiclesPage() {
  const { t, i18n } = useTranslation();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const compact = !Grid.useBreakpoint().md;
  const [params, setParams] = useSearchParams();
  const view = useMemo(() => viewOf(params), [params]);
  const vocabularies = useVocabulary().data;
  const { agencyName, agencyOptions } = useAgencyNames();
  const [form] = Form.useForm<FilterValues>();
  const { showRefusal } = useFieldErrors(form);
  const [opened, setOpened] = useState<number | null>(null); // the open vehicle's id

  const path = vehiclesPath(view);
  // Under 'vehicles': a live change to any vehicle, or a move made here, reads the page again.
  const vehicles = useQuery({
    queryKey: ['vehicles', 'page', path],
    queryFn: ({ signal }) => getJson<Page<RegistryVehicle>>(path, signal),
    placeholderData: keepPreviousData,
  });
  // What falls due changes with the vehicles' records; its sentences come in the request's language.
  const reminders = useQuery({
    queryKey: ['vehicles', 'reminders', language],
    queryFn: ({ signal }) => getJson<ReminderList>(`/reminders${queryString({ within_days: REMINDER_DAYS })}`, signal),
    placeholderData: keepPreviousData,
  });

  const update = (changes: Partial<RegistryView>) => {
    setParams(searchOf(view, changes), { replace: true });
  };

  useEffect(() => {
    form.setFieldsValue(valuesOf(view));
  }, [form, view]);

  const error = vehicles.error;
  const placed = error instanceof ApiError && formItemFor(error.field, ITEMS) !== null;
  useEffect(() => {
    if (error) showRefusal(error, ITEMS);
  }, [error, showRefusal]);

  const rows = vehicles.isError ? [] : (vehicles.data?.items ?? []);

  const columns: ColumnsType<RegistryVehicle> = [
    {
      title: t('registry.plate'),
      dataIndex: 'plate',
      key: 'plate',
      width: 120,
      ...(compact ? {} : { fixed: 'left' as const }),
      render: (plate: string) => <span data-testid="vehicle-plate">{plate}</span>,
    },
    {
      title: t('registry.category'),
      dataIndex: 'category',
      key: 'category',
      width: 130,
      render: (category: string) => label(vocabularies, 'category', category, language),
    },
    {
      title: t('registry.powertrain'),
      dataIndex: 'powertrain',
      key: 'powertrain',
      width: 200,
      render: (powertrain: string) => (
        <>
          {label(vocabularies, 'powertrain', powertrain, language)}
          {isNewEnergy(powertrain) && (
            <Tag color="green" style={{ marginInlineStart: 8 }} data-testid="new-energy">
              {t('registry.newEnergy')}
            </Tag>
          )}
        </>
      ),
    },
    { title: t('registry.agency'), dataIndex: 'agency', key: 'agency', ellipsis: true, render: agencyName },
    {
      title: t('registry.status'),
      dataIndex: 'status',
      key: 'status',
      width: 100,
      render: (status: string) => <StatusTag status={status} language={language} />,
    },
    { title: t('registry.seats'), dataIndex: 'seats', key: 'seats', width: 80, align: 'right' },
    { title: t('registry.acquired'), dataIndex: 'acquired_on', key: 'acquired', width: 120 },
  ];

  const onRow = (row: RegistryVehicle) =>
    openingRow(() => setOpened(row.id), { 'data-testid': 'vehicle-row', 'data-vehicle': row.id, 'data-plate': row.plate });

  const options = (vocabulary: 'category' | 'vehicle_status' | 'powertrain') =>
    (vocabularies?.[vocabulary] ?? []).map((term) => ({ value: term.value, label: label(vocabularies, vocabulary, term.value, language) }));
  const wide = (minWidth: number) => (compact ? { width: '100%' } : { minWidth });
  const due = reminders.data?.items.length ?? 0;
  const overdue = reminders.data?.items.filter((item) => item.days_left < 0).length ?? 0;

  const list = (
    <>
      <Form<FilterValues>
        form={form}
        // On a phone one filter under another, each as wide as the screen: side by side they would not fit.
        layout={compact ? 'vertical' : 'inline'}
        initialValues={valuesOf(view)}
        style={{ marginBottom: 16, rowGap: 8 }}
        data-testid="vehicle-filters"
        onValuesChange={(changed: Partial<FilterValues>) => {
          // The text is taken when it is searched (Enter, the button, or cleared), not at every key.
          if ('agency' in changed) update({ agency: changed.agency ?? null });
          else if ('category' in changed) update({ category: changed.category ?? null });
          else if ('status' in changed) update({ status: changed.status ?? null });
          else if ('powertrain' in changed) update({ powertrain: changed.powertrain ?? null });
        }}
      >
        <Form.Item name="agency" label={t('registry.agency')}>
          <Select
            allowClear
            showSearch
            placeholder={t('registry.allAgencies')}
            options={agencyOptions}
            optionFilterProp="label"
            style={wide(220)}
            data-testid="vehicle-agency"
          />
        </Form.Item>
        <Form.Item name="category" label={t('registry.category')}>
          <Select allowClear placeholder={t('registry.allCategories')} options={options('category')} style={wide(150)} data-testid="vehicle-category" />
        </Form.Item>
        <Form.Item name="status" label={t('registry.status')}>
          <Select allowClear placeholder={t('registry.allStatuses')} options={options('vehicle_status')} style={wide(120)} data-testid="vehicle-status-filter" />
        </Form.Item>
        <Form.Item name="powertrain" label={t('registry.powertrain')}>
          <Select allowClear placeholder={t('registry.allPowertrains')} options={options('powertrain')} style={wide(150)} data-testid="vehicle-powertrain-filter" />
        </Form.Item>
        <Form.Item name="q" label={t('registry.search')}>
          <Input.Search
            allowClear
            maxLength={MAX_SEARCH}
            placeholder={t('registry.searchPlaceholder')}
            onSearch={(text) => update({ q: text.trim() })}
            style={wide(220)}
            data-testid="vehicle-search"
          />
        </Form.Item>
        <Form.Item>
          <Button icon={<ReloadOutlined />} onClick={() => void vehicles.refetch()} data-testid="vehicle-refresh">
            {t('registry.refresh')}
          </Button>
        </Form.Item>
      </Form>
      <ListFailure error={error} placed={placed} forbidden={t('registry.forbidden')} testId="vehicle-error" />
      <Table<RegistryVehicle>
        rowKey="id"
        size="middle"
        columns={columns}
        dataSource={rows}
        loading={vehicles.isFetching}
        locale={{ emptyText: t('registry.empty') }}
        scroll={{ x: 900 }}
        onRow={onRow}
        data-testid="vehicles-table"
        pagination={serverPagination(view, vehicles.isError ? 0 : (vehicles.data?.total ?? 0), update, (count) => (
          <span data-testid="vehicles-total">{t('registry.total', { count })}</span>
        ))}
      />
    </>
  );

  return (
    <Card title={t('registry.title')}>
      <Typography.Paragraph type="secondary">{t('registry.intro')}</Typography.Paragraph>
      <Tabs
        activeKey={view.tab}
        onChange={(tab) => update({ tab: tab as Tab })}
        data-testid="registry-tabs"
        items={[
          { key: 'vehicles', label: t('registry.tabs.vehicles'), children: list },
          {
            key: 'quotas',
            label: t('registry.tabs.quotas'),
            children: view.tab === 'quotas' ? <QuotaTable language={language} agencyName={agencyName} /> : null,
          },
          {
            key: 'reminders',
            label: (
              <span data-testid="reminders-tab">
                {t('registry.tabs.reminders')}{' '}
                <Badge count={due} overflowCount={99} color={overdue > 0 ? 'red' : 'orange'} showZero={false} data-testid="reminders-count" />
              </span>
            ),
            children: (
              <ReminderTable reminders={reminders.data} error={reminders.error} agencyName={agencyName} onOpen={setOpened} />
            ),
          },
        ]}
      />
      <VehicleDrawer
        vehicleId={opened}
        language={language}
        agencyName={agencyName}
        compact={compact}
        onClose={() => setOpened(null)}
      />
    </Card>
  );
}
