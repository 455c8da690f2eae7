import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Descriptions, Drawer, Form, Input, InputNumber, Modal, Space, Spin, Tag, Typography, type ButtonProps } from 'antd';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

import { getJson, sendJson, useVocabulary } from '../api';
import { asError, useErrorText } from '../errors';
import { lengthRule, useFieldErrors, wholeNumberRule } from '../forms';
import type { Language } from '../i18n';
import {
  isNewEnergy,
  MOVE_ITEMS,
  MOVE_RULES,
  moveRequest,
  movesFor,
  ODOMETER,
  REASON,
  type Move,
  type MoveValues,
  type RegistryVehicle,
} from '../registry';
import { label, VEHICLE_STATUS_COLOURS } from '../vocabulary';

const LABEL_STYLE = { width: 150 };

/** The vehicle's status as a tag, in the words of the language shown. */
export function StatusTag({ status, language }: { status: string; language: Language }) {
  const vocabularies = useVocabulary().data;
  return (
    <Tag color={VEHICLE_STATUS_COLOURS[status] ?? 'default'} data-testid="vehicle-status" data-status={status}>
      {label(vocabularies, 'vehicle_status', status, language)}
    </Tag>
  );
}

/**
 * What a form shows but nobody types (the vehicle, its status): an item of its own all the same, so that the server's
 * refusal naming it (`status`: sealed meanwhile; `vehicle_id`: on a trip now) is shown under it.
 */
function Shown({ children }: { children: ReactNode; value?: unknown; onChange?: unknown; id?: string }) {
  return <>{children}</>;
}

function MoveDialog({
  vehicle,
  move,
  language,
  onClose,
}: {
  vehicle: RegistryVehicle;
  move: Move;
  language: Language;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const queryClient = useQueryClient();
  const describe = useErrorText();
  const [form] = Form.useForm<MoveValues>();
  const fieldErrors = useFieldErrors(form);
  const [sending, setSending] = useState(false);
  const [refused, setRefused] = useState<Error | null>(null);
  const rule = MOVE_RULES[move];
  const name = t(`registry.moves.${move}`);

  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ['vehicles'] }),
      queryClient.invalidateQueries({ queryKey: ['vehicle', vehicle.id] }),
      queryClient.invalidateQueries({ queryKey: ['board'] }),
    ]);

  const submit = async (values: MoveValues) => {
    setSending(true);
    setRefused(null);
    const { path, body } = moveRequest(vehicle.id, move, values);
    try {
      const moved = await sendJson<RegistryVehicle>('POST', path, body);
      queryClient.setQueryData(['vehicle', vehicle.id], moved);
      // The answer is the vehicle alone: how many trips went back to the queue it does not say, so neither does this.
      void message.success(
        <span data-testid="move-done">
          {t(`registry.moved.${move}`, { plate: moved.plate })}
          {rule.leavesUse ? `${language === 'en' ? ' ' : ''}${t('registry.backToQueue')}` : ''}
        </span>,
      );
      void refresh();
      onClose();
    } catch (error) {
      if (!fieldErrors.showRefusal(error, MOVE_ITEMS)) setRefused(asError(error));
      void refresh(); // refused because the vehicle changed meanwhile: show it as it is now
    } finally {
      setSending(false);
    }
  };

  return (
    <Modal
      open
      title={t('registry.moveTitle', { move: name, plate: vehicle.plate })}
      onCancel={onClose}
      onOk={() => form.submit()}
      okText={name}
      cancelText={t('app.cancel')}
      confirmLoading={sending}
      okButtonProps={{ danger: rule.leavesUse, 'data-testid': 'move-submit' } as ButtonProps}
      destroyOnHidden
      data-testid="move-dialog"
    >
      {rule.leavesUse && (
        <Alert type="warning" showIcon title={t('registry.leavesUse', { move: name })} style={{ marginBottom: 12 }} />
      )}
      {refused !== null && (
        <Alert type="error" showIcon title={describe(refused)} style={{ marginBottom: 12 }} data-testid="move-refused" />
      )}
      <Form<MoveValues> form={form} layout="vertical" onFinish={(values) => void submit(values)}>
        <Form.Item name="vehicle_id" label={t('registry.vehicle')} layout="horizontal" style={{ marginBottom: 8 }}>
          <Shown>
            <Typography.Text strong data-testid="move-plate">
              {vehicle.plate}
            </Typography.Text>
          </Shown>
        </Form.Item>
        <Form.Item name="status" label={t('registry.status')} layout="horizontal" style={{ marginBottom: 8 }}>
          <Shown>
            <StatusTag status={vehicle.status} language={language} />
          </Shown>
        </Form.Item>
        <Form.Item
          name="reason"
          label={t('registry.reason')}
          rules={[
            { required: true, whitespace: true, message: t('registry.reasonRequired') },
            lengthRule(REASON.min, REASON.max, t('registry.reasonLength', REASON)),
          ]}
        >
          <Input.TextArea
            rows={3}
            maxLength={REASON.max}
            showCount
            autoFocus
            placeholder={t(`registry.reasonHints.${move}`)}
            data-testid="move-reason"
          />
        </Form.Item>
        {rule.odometer && (
          <Form.Item
            name="odometer_km"
            label={t('registry.odometerOptional')}
            extra={t('registry.km', { km: vehicle.odometer_km.toLocaleString('en') })}
            rules={[wholeNumberRule(ODOMETER.min, ODOMETER.max, t('registry.odometerRange', { max: ODOMETER.max.toLocaleString('en') }))]}
          >
            {/* No min/max/precision: those would clamp or round the reading as typed (see wholeNumberRule). */}
            <InputNumber step={1} inputMode="numeric" suffix="km" style={{ width: '100%' }} data-testid="move-odometer" />
          </Form.Item>
        )}
      </Form>
    </Modal>
  );
}

export interface VehicleDrawerProps {
  vehicleId: number | null;
  language: Language;
  /** The agency's name beside its code, where known. */
  agencyName: (code: string) => string;
  compact: boolean;
  onClose: () => void;
}

/**
 * A vehicle opened: its record as the registry holds it (read again, and again on every live change to it), and the
 * status moves its status allows, each asking its reason.
 */
export default function VehicleDrawer({ vehicleId, language, agencyName, compact, onClose }: VehicleDrawerProps) {
  const { t } = useTranslation();
  const describe = useErrorText();
  const vocabularies = useVocabulary().data;
  const [moving, setMoving] = useState<Move | null>(null);
  const vehicle = useQuery({
    queryKey: ['vehicle', vehicleId],
    queryFn: ({ signal }) => getJson<RegistryVehicle>(`/vehicles/${vehicleId}`, signal),
    enabled: vehicleId !== null,
  });
  const shown = vehicleId !== null && vehicle.data?.id === vehicleId ? vehicle.data : null;
  const day = (value: string | null | undefined) => value ?? '—';

  return (
    <Drawer
      open={vehicleId !== null}
      onClose={() => {
        setMoving(null);
        onClose();
      }}
      size={compact ? '100%' : 640}
      title={shown ? t('registry.drawerTitle', { plate: shown.plate }) : ''}
      data-testid="vehicle-drawer"
      destroyOnHidden
    >
      {vehicle.error && <Alert type="error" showIcon title={t('errors.load', { detail: describe(vehicle.error) })} />}
      {shown === null ? (
        !vehicle.error && <Spin />
      ) : (
        <>
          <Typography.Title level={5}>{t('registry.actions')}</Typography.Title>
          {movesFor(shown.status).length === 0 ? (
            <Typography.Paragraph type="secondary">{t('registry.noActions')}</Typography.Paragraph>
          ) : (
            <Space wrap style={{ marginBottom: 24 }}>
              {movesFor(shown.status).map((move) => (
                <Button
                  key={move}
                  danger={MOVE_RULES[move].leavesUse}
                  onClick={() => setMoving(move)}
                  data-testid={`move-${move}`}
                >
                  {t(`registry.moves.${move}`)}
                </Button>
              ))}
            </Space>
          )}
          <Descriptions
            column={1}
            size="small"
            bordered
            title={t('registry.record')}
            styles={{ label: LABEL_STYLE }}
            data-testid="vehicle-record"
            items={[
              { key: 'plate', label: t('registry.plate'), children: <span data-testid="record-plate">{shown.plate}</span> },
              { key: 'status', label: t('registry.status'), children: <StatusTag status={shown.status} language={language} /> },
              { key: 'agency', label: t('registry.agency'), children: agencyName(shown.agency) },
              { key: 'category', label: t('registry.category'), children: label(vocabularies, 'category', shown.category, language) },
              {
                key: 'powertrain',
                label: t('registry.powertrain'),
                children: (
                  <>
                    {label(vocabularies, 'powertrain', shown.powertrain, language)}
                    {isNewEnergy(shown.powertrain) && (
                      <Tag color="green" style={{ marginInlineStart: 8 }}>
                        {t('registry.newEnergy')}
                      </Tag>
                    )}
                  </>
                ),
              },
              { key: 'model', label: t('registry.model'), children: shown.model || '—' },
              { key: 'vin', label: t('registry.vin'), children: shown.vin },
              { key: 'seats', label: t('registry.seats'), children: shown.seats },
              { key: 'acquired', label: t('registry.acquired'), children: shown.acquired_on },
              { key: 'price', label: t('registry.price'), children: t('registry.cny', { amount: Number(shown.price_cny).toLocaleString('en', { minimumFractionDigits: 2 }) }) },
              {
                key: 'odometer',
                label: t('registry.odometer'),
                children: <span data-testid="record-odometer">{t('registry.km', { km: shown.odometer_km.toLocaleString('en') })}</span>,
              },
              { key: 'marking', label: t('registry.marking'), children: label(vocabularies, 'marking_status', shown.marking, language) },
              { key: 'source', label: t('registry.source'), children: label(vocabularies, 'vehicle_source', shown.source, language) },
              { key: 'insurance', label: t('registry.insurance'), children: day(shown.insurance_expires_on) },
              { key: 'inspected', label: t('registry.inspected'), children: day(shown.inspected_on) },
              { key: 'serviced', label: t('registry.serviced'), children: day(shown.serviced_on) },
              { key: 'terminal', label: t('registry.terminal'), children: shown.terminal_id ?? '—' },
            ]}
          />
          {moving !== null && (
            <MoveDialog vehicle={shown} move={moving} language={language} onClose={() => setMoving(null)} />
          )}
        </>
      )}
    </Drawer>
  );
}
