import { ReloadOutlined } from '@ant-design/icons';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Button, Card, DatePicker, Form, Grid, Select, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table/interface';
import dayjs, { type Dayjs } from 'dayjs';
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';

import { ApiError, getJson, useAgencyNames, useVocabulary, type Page } from '../api';
import { findingKey, findingsPath, searchOf, viewOf, type Finding, type FindingsView } from '../findings';
import { formItemFor, useFieldErrors } from '../forms';
import { isLanguage } from '../i18n';
import { formatChinaDateTime } from '../time';
import { label } from '../vocabulary';
import FindingDrawer, { KIND_COLOURS } from './FindingDrawer';
import { ListFailure, openingRow, serverPagination } from './listParts';

/** The filter form's items, and the API's query names that each answers (a refusal is shown under its item). */
const ITEMS = ['period', 'kind', 'agency'] as const;
const ALIASES = { since: 'period', until: 'period' };

interface FilterValues {
  period: [Dayjs, Dayjs];
  kind: string[];
  agency: string | null;
}

function valuesOf(view: FindingsView): FilterValues {
  // A China-time date's digits, read as a calendar date: the browser's zone does not shift it.
  return { period: [dayjs(view.since), dayjs(view.until)], kind: view.kinds, agency: view.agency };
}

/**
 * 违规线索: the usage audit's findings over a period (`GET /violations`), paged on the server, filtered by kind and
 * agency; the period and filters are the address's query, so a link opens the same view. A row, clicked or entered
 * from the keyboard, opens the finding with its evidence and the vehicle's track on a map.
 */
export default function FindingsPage() {
  const { t, i18n } = useTranslation();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const compact = !Grid.useBreakpoint().md;
  const [params, setParams] = useSearchParams();
  const view = useMemo(() => viewOf(params), [params]);
  const vocabularies = useVocabulary().data;
  const { agencyName, agencyOptions } = useAgencyNames();
  const [form] = Form.useForm<FilterValues>();
  const { showRefusal } = useFieldErrors(form);
  const [opened, setOpened] = useState<string | null>(null); // the open finding (`findingKey`)

  const path = findingsPath(view);
  const findings = useQuery({
    // The language is part of the key: each finding's sentence comes in the language of the request.
    queryKey: ['findings', path, language],
    queryFn: ({ signal }) => getJson<Page<Finding>>(path, signal),
    placeholderData: keepPreviousData,
    staleTime: 60 * 1000, // each read audits the whole period again: paging back and forth reads it once
  });

  const update = (changes: Partial<FindingsView>) => {
    setOpened(null);
    setParams(searchOf(view, changes), { replace: true });
  };

  useEffect(() => {
    form.setFieldsValue(valuesOf(view));
  }, [form, view]);

  // The server's refusal (a period too long, a kind it does not know) under the filter it names; else above the list.
  const error = findings.error;
  const placed = error instanceof ApiError && formItemFor(error.field, ITEMS, ALIASES) !== null;
  useEffect(() => {
    if (error) showRefusal(error, ITEMS, ALIASES);
  }, [error, showRefusal]);

  const kindLabel = (kind: string) => label(vocabularies, 'finding_kind', kind, language);
  const items = findings.isError ? [] : (findings.data?.items ?? []);
  const offset = (view.page - 1) * view.size;
  const rows = items.map((finding, index) => ({ ...finding, row: offset + index }));
  type Row = (typeof rows)[number];
  const chosen = opened === null ? null : (rows.find((row) => findingKey(row) === opened) ?? null);

  const columns: ColumnsType<Row> = [
    {
      title: t('findings.at'),
      dataIndex: 'at',
      key: 'at',
      width: 150,
      render: (at: string | null) => (at ? formatChinaDateTime(at) : t('findings.noTime')),
    },
    {
      title: t('findings.kind'),
      dataIndex: 'kind',
      key: 'kind',
      width: 170,
      render: (kind: string) => (
        <Tag color={KIND_COLOURS[kind] ?? 'default'} data-testid="finding-kind">
          {kindLabel(kind)}
        </Tag>
      ),
    },
    {
      title: t('findings.plate'),
      dataIndex: 'plate',
      key: 'plate',
      width: 110,
      render: (plate: string | null) => <span data-testid="finding-plate">{plate ?? '—'}</span>,
    },
    {
      title: t('findings.agency'),
      dataIndex: 'agency',
      key: 'agency',
      width: 150,
      ellipsis: true,
      render: (code: string | null) => (code ? agencyName(code) : '—'),
    },
    { title: t('findings.detail'), dataIndex: 'detail', key: 'detail' },
    {
      title: t('findings.trip'),
      dataIndex: 'trip_id',
      key: 'trip',
      width: 80,
      render: (trip: number | null) => (trip !== null ? `#${trip}` : '—'),
    },
  ];

  const onRow = (row: Row) =>
    openingRow(() => setOpened(findingKey(row)), { 'data-testid': 'finding-row', 'data-kind': row.kind });

  const kindOptions = (vocabularies?.finding_kind ?? []).map((term) => ({ value: term.value, label: kindLabel(term.value) }));

  return (
    <Card
      title={t('findings.title')}
      extra={compact ? null : <Typography.Text type="secondary">{t('findings.timeZoneNote')}</Typography.Text>}
    >
      <Typography.Paragraph type="secondary">{t('findings.intro')}</Typography.Paragraph>
      <Form<FilterValues>
        form={form}
        // On a phone one filter under another, each as wide as the screen: side by side they would not fit.
        layout={compact ? 'vertical' : 'inline'}
        initialValues={valuesOf(view)}
        style={{ marginBottom: 16, rowGap: 8 }}
        data-testid="finding-filters"
        onValuesChange={(changed: Partial<FilterValues>) => {
          if (changed.period) {
            const [since, until] = changed.period;
            update({ since: since.format('YYYY-MM-DD'), until: until.format('YYYY-MM-DD') });
          } else if ('kind' in changed) update({ kinds: changed.kind ?? [] });
          else if ('agency' in changed) update({ agency: changed.agency ?? null });
        }}
      >
        <Form.Item name="period" label={t('findings.period')}>
          <DatePicker.RangePicker
            allowClear={false}
            format="YYYY-MM-DD"
            placeholder={[t('findings.since'), t('findings.until')]}
            style={compact ? { width: '100%' } : {}}
            data-testid="finding-period"
          />
        </Form.Item>
        <Form.Item name="kind" label={t('findings.kinds')}>
          <Select
            mode="multiple"
            allowClear
            placeholder={t('findings.allKinds')}
            options={kindOptions}
            optionFilterProp="label"
            style={compact ? { width: '100%' } : { minWidth: 260 }}
            data-testid="finding-kinds"
          />
        </Form.Item>
        <Form.Item name="agency" label={t('findings.agency')}>
          <Select
            allowClear
            showSearch
            placeholder={t('findings.allAgencies')}
            options={agencyOptions}
            optionFilterProp="label"
            style={compact ? { width: '100%' } : { minWidth: 200 }}
            data-testid="finding-agency"
          />
        </Form.Item>
        <Form.Item>
          <Button icon={<ReloadOutlined />} onClick={() => void findings.refetch()} data-testid="finding-refresh">
            {t('findings.refresh')}
          </Button>
        </Form.Item>
      </Form>
      <ListFailure error={error} placed={placed} forbidden={t('findings.forbidden')} testId="finding-error" />
      <Table<Row>
        rowKey="row"
        size="middle"
        columns={columns}
        dataSource={rows}
        loading={findings.isFetching}
        locale={{ emptyText: t('findings.empty') }}
        scroll={{ x: 1000 }}
        onRow={onRow}
        data-testid="findings-table"
        pagination={serverPagination(view, findings.isError ? 0 : (findings.data?.total ?? 0), update, (count) => (
          <span data-testid="findings-total">{t('findings.total', { count })}</span>
        ))}
      />
      <FindingDrawer
        finding={chosen}
        language={language}
        agencyName={agencyName}
        compact={compact}
        onClose={() => setOpened(null)}
      />
    </Card>
  );
}
