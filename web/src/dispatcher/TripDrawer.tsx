import { EnvironmentOutlined, PrinterOutlined, RollbackOutlined } from '@ant-design/icons';
import { Alert, Button, Descriptions, Drawer, Input, Popconfirm, Space, Spin, Tag } from 'antd';
import { useState } from 'react';

import { API, useVocabulary } from '../api';
import { useErrorText } from '../errors';
import { formatChinaDateTime, formatChinaWindow } from '../time';
import { label, STATUS_COLOURS } from '../vocabulary';
import { useText } from './messages';
import { PRIORITY_COLOURS } from './Queue';
import { useTrip } from './queries';

/** A trip's details beside the board, with its dispatch slip, and the desk's actions on it. */
export default function TripDrawer({
  tripId,
  onClose,
  onUnassign,
  onShowRoute,
}: {
  tripId: number | null;
  onClose: () => void;
  onUnassign: (tripId: number, note: string) => Promise<boolean>;
  onShowRoute: (vehicleId: number) => void;
}) {
  const { t, language } = useText();
  const describe = useErrorText();
  const words = useVocabulary().data;
  const trip = useTrip(tripId);
  const [note, setNote] = useState('');
  const data = trip.data;
  const held = data?.assignment ?? null;
  const mayUnassign = data?.status === 'assigned';

  return (
    <Drawer
      open={tripId !== null}
      onClose={onClose}
      size="large"
      title={tripId !== null ? t('trip.title', { id: tripId }) : ''}
      data-testid="trip-drawer"
      destroyOnHidden
      extra={
        data && (
          <Space>
            <Button
              icon={<PrinterOutlined />}
              href={`${API}/trips/${data.id}/slip?format=html`}
              target="_blank"
              rel="noopener"
              data-testid="slip-link"
            >
              {t('trip.slip')}
            </Button>
          </Space>
        )
      }
    >
      {trip.isLoading && <Spin tip={t('trip.loading')} />}
      {trip.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(trip.error) })} />}
      {data && (
        <>
          <Descriptions column={1} size="small" bordered data-testid="trip-details">
            <Descriptions.Item label={t('trip.purpose')}>{data.purpose}</Descriptions.Item>
            <Descriptions.Item label={t('trip.agency')}>{data.agency}</Descriptions.Item>
            <Descriptions.Item label={t('trip.priority')}>
              <Tag color={PRIORITY_COLOURS[data.priority] ?? 'default'}>
                {label(words, 'priority', data.priority, language)}
              </Tag>
            </Descriptions.Item>
            <Descriptions.Item label={t('trip.status')}>
              <Tag color={STATUS_COLOURS[data.status] ?? 'default'} data-testid="drawer-status">
                {label(words, 'trip_status', data.status, language)}
              </Tag>
            </Descriptions.Item>
            <Descriptions.Item label={t('trip.window')}>
              {formatChinaWindow(data.earliest_pickup, data.latest_pickup)}
            </Descriptions.Item>
            <Descriptions.Item label={t('trip.pickup')}>{data.pickup.address}</Descriptions.Item>
            <Descriptions.Item label={t('trip.dropoff')}>{data.dropoff.address}</Descriptions.Item>
            <Descriptions.Item label={t('trip.passengers')}>{data.passengers}</Descriptions.Item>
            <Descriptions.Item label={t('trip.plannedKm')}>{data.planned_km.toFixed(1)}</Descriptions.Item>
            <Descriptions.Item label={t('trip.vehicle')}>
              <span data-testid="drawer-plate">{held?.plate ?? '—'}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t('trip.driver')}>{held?.driver ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={t('trip.held')}>
              {held ? formatChinaWindow(held.starts_at, held.ends_at) : '—'}
            </Descriptions.Item>
            {data.dispatch_note && (
              <Descriptions.Item label={t('trip.dispatchNote')}>{data.dispatch_note}</Descriptions.Item>
            )}
            <Descriptions.Item label={t('trip.requestedBy')}>
              {data.requested_by ?? '—'} · {formatChinaDateTime(data.created_at)}
            </Descriptions.Item>
          </Descriptions>
          <Space style={{ marginTop: 16 }} wrap>
            {held && (
              <Button icon={<EnvironmentOutlined />} onClick={() => onShowRoute(held.vehicle_id)}>
                {t('trip.showRoute')}
              </Button>
            )}
            {mayUnassign && (
              <Popconfirm
                title={t('trip.unassignConfirm')}
                description={
                  <Input
                    value={note}
                    onChange={(e) => setNote(e.target.value)}
                    placeholder={t('trip.unassignNote')}
                    maxLength={500}
                    data-testid="unassign-note"
                  />
                }
                onConfirm={() => onUnassign(data.id, note)}
              >
                <Button danger icon={<RollbackOutlined />} data-testid="unassign">
                  {t('trip.unassign')}
                </Button>
              </Popconfirm>
            )}
          </Space>
        </>
      )}
    </Drawer>
  );
}
