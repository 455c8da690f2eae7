import { Alert, App, Form, Input, Modal } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError, sendJson } from '../api';
import { asError, useErrorText } from '../errors';
import { useFieldErrors } from '../forms';

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
  // What is said above the form: the server's refusal naming no field, or a wait after too many tries.
  const [refused, setRefused] = useState<Error | { wait: number } | null>(null);
  const describe = useErrorText();
  const fieldErrors = useFieldErrors(form, open);

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
        fieldErrors.show('current', (words) => words.t('password.wrongCurrent'));
      } else if (error instanceof ApiError && error.status === 429) {
        setRefused({ wait: error.retryAfter ?? 60 });
      } else if (!fieldErrors.showRefusal(error, ITEMS)) {
        setRefused(asError(error));
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
      {refused !== null && (
        <Alert
          type="error"
          showIcon
          title={refused instanceof Error ? describe(refused) : t('signIn.tooMany', { seconds: refused.wait })}
          style={{ marginBottom: 16 }}
        />
      )}
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
