import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useLocation, useNavigate } from 'react-router';

import { ApiError, getJson } from '../api';
import { cleanToken, setToken, useToken } from '../auth';
import type { Vocabularies } from '../vocabulary';

interface Fields {
  token: string;
}

/**
 * Sign-in as the API does it today: a bearer token from `gongche users add`, pasted once, kept in sessionStorage.
 * The token is tried on `GET /vocabulary` (any signed-in user may read it) before the console takes it.
 */
export default function SignIn() {
  const { t } = useTranslation();
  const token = useToken();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();
  const [checking, setChecking] = useState(false);
  const [refused, setRefused] = useState<string | null>(null);
  const from = (location.state as { from?: string } | null)?.from ?? '/trips';

  if (token !== null) return <Navigate to={from} replace />;

  const submit = async ({ token: pasted }: Fields) => {
    const candidate = cleanToken(pasted);
    if (candidate === null) return;
    setChecking(true);
    setRefused(null);
    try {
      // Tried before it is kept: the page leaves for `from` as soon as there is a token.
      const vocabularies = await getJson<Vocabularies>('/vocabulary', undefined, candidate);
      queryClient.setQueryData(['vocabulary', candidate], vocabularies);
      setToken(candidate);
      void navigate(from, { replace: true });
    } catch (error) {
      setRefused(error instanceof ApiError && error.status === 401 ? t('signIn.refused') : String(error));
    } finally {
      setChecking(false);
    }
  };

  return (
    <Card title={t('signIn.title')} style={{ maxWidth: 560, margin: '48px auto' }}>
      <Typography.Paragraph type="secondary">{t('signIn.intro')}</Typography.Paragraph>
      {refused !== null && <Alert type="error" showIcon title={refused} style={{ marginBottom: 16 }} />}
      <Form<Fields> layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item
          name="token"
          label={t('signIn.token')}
          rules={[{ required: true, whitespace: true, message: t('signIn.tokenRequired') }]}
        >
          <Input.Password autoComplete="off" autoFocus data-testid="token" />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={checking} block>
          {checking ? t('signIn.checking') : t('signIn.submit')}
        </Button>
      </Form>
    </Card>
  );
}
