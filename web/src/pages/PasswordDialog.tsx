import { Alert, App, Form, Input, Modal } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError, sendJson } from '../api';
import { showFieldError } from '../forms';

interface Fields {
  current: string;
  new: string;
  confirm: string;
}

/** The API's bound on a new password (docs/console-api.md: `new` has at least 10 characters). */
export const MIN_PASSWORD = 10;
const ITEMS = ['current', 'new'] as const;

/**
 * Changing one's password (`POST /auth/password {current, new}`): the server's refusal (a wrong current password, a
 * new one too short or too plain) is shown under the field it names. The user's other sessions end; this one stays.
 */
export default function PasswordDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [form] = Form.useForm<Fields>();
  const [sending, setSending] = useState(false);
  const [refused, setRefused] = useState<string | null>(null);

  const close = () => {
    form.resetFields();
    setRefused(null);
    onClose();
  };

  const submit = async (fields: Fields) => {
    setSending(true);
    setRefused(null);
    try {
      await sendJson('POST', '/auth/password', { current: fields.current, new: fields.new });
      void message.success(t('password.done'));
      close();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && !error.field) {
        form.setFields([{ name: 'current', errors: [t('password.wrongCurrent')] }]);
      } else if (error instanceof ApiError && error.status === 429) {
        setRefused(t('signIn.tooMany', { seconds: error.retryAfter ?? 60 }));
      } else if (!showFieldError(form, error, ITEMS)) {
        setRefused(error instanceof Error ? error.message : String(error));
      }
    } finally {
      setSending(false);
    }
  };

  return (
    <Modal
      title={t('password.title')}
      open={open}
      onCancel={close}
      onOk={() => form.submit()}
      okText={t('password.submit')}
      cancelText={t('app.cancel')}
      confirmLoading={sending}
      destroyOnHidden
      okButtonProps={{ 'data-testid': 'password-submit' } as Record<string, string>}
    >
      {refused !== null && <Alert type="error" showIcon title={refused} style={{ marginBottom: 16 }} />}
      <Form<Fields> form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item name="current" label={t('password.current')} rules={[{ required: true, message: t('password.required') }]}>
          <Input.Password autoComplete="current-password" data-testid="password-current" />
        </Form.Item>
        <Form.Item
          name="new"
          label={t('password.new')}
          extra={t('password.hint', { count: MIN_PASSWORD })}
          rules={[
            { required: true, message: t('password.required') },
            { min: MIN_PASSWORD, message: t('password.hint', { count: MIN_PASSWORD }) },
          ]}
        >
          <Input.Password autoComplete="new-password" data-testid="password-new" />
        </Form.Item>
        <Form.Item
          name="confirm"
          label={t('password.confirm')}
          dependencies={['new']}
          rules={[
            { required: true, message: t('password.required') },
            ({ getFieldValue }) => ({
              validator: (_, value: string | undefined) =>
                !value || value === getFieldValue('new') ? Promise.resolve() : Promise.reject(new Error(t('password.mismatch'))),
            }),
          ]}
        >
          <Input.Password autoComplete="new-password" data-testid="password-confirm" />
        </Form.Item>
      </Form>
    </Modal>
  );
}
