import { LockOutlined, UserOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useLocation, useNavigate } from 'react-router';

import { ApiError, sendJson } from '../api';
import { homeOf, mayOpen, signedIn, useSession, type Me } from '../auth';
import { asError, useErrorText } from '../errors';
import { useFieldErrors } from '../forms';

interface Fields {
  name: string;
  password: string;
}

interface LoginAnswer {
  user: Me;
  csrf_token: string;
}

/** Where to go once signed in: the page asked for, if the role has it, else the role's home. */
export function landing(role: string, from: string | undefined): string {
  if (from && from !== '/' && !from.startsWith('/signin') && mayOpen(role, from)) return from;
  return homeOf(role);
}

/**
 * Sign-in with a name and password (`POST /auth/login`): the server sets the session cookie (HttpOnly, which the page
 * never sees) and answers who signed in and the CSRF token. A wrong name or password is one sentence for both; after
 * repeated failures the server answers 429 with how long to wait.
 */
export default function SignIn() {
  const { t } = useTranslation();
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();
  const [sending, setSending] = useState(false);
  // Why the last try failed: a wrong name or password, too many tries (the wait counts down), or anything else.
  const [refused, setRefused] = useState<'wrong' | 'wait' | Error | null>(null);
  const [form] = Form.useForm<Fields>();
  const describe = useErrorText();
  useFieldErrors(form);
  const [waitUntil, setWaitUntil] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const from = (location.state as { from?: string } | null)?.from;

  // The countdown of a 429: the button stays off until the server's Retry-After has passed.
  useEffect(() => {
    if (waitUntil === null) return;
    const timer = setInterval(() => {
      const current = Date.now();
      setNow(current);
      if (current >= waitUntil) {
        setWaitUntil(null); // the wait is over: the form is open again
        setRefused(null);
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [waitUntil]);

  if (session.state === 'signedIn') return <Navigate to={landing(session.user.role, from)} replace />;

  const submit = async ({ name, password }: Fields) => {
    setSending(true);
    setRefused(null);
    try {
      const answer = await sendJson<LoginAnswer>('POST', '/auth/login', { name: name.trim(), password });
      queryClient.clear();
      signedIn(answer.user, answer.csrf_token);
      void navigate(landing(answer.user.role, from), { replace: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        setRefused('wrong');
      } else if (error instanceof ApiError && error.status === 429) {
        const seconds = error.retryAfter ?? 60;
        const at = Date.now();
        setNow(at);
        setWaitUntil(at + seconds * 1000);
        setRefused('wait');
      } else {
        setRefused(asError(error));
      }
    } finally {
      setSending(false);
    }
  };

  const waiting = waitUntil !== null && now < waitUntil;
  const expired = session.state === 'signedOut' && session.expired;

  return (
    <Card title={t('signIn.title')} style={{ maxWidth: 440, margin: '48px auto' }}>
      <Typography.Paragraph type="secondary">{t('signIn.intro')}</Typography.Paragraph>
      {expired && refused === null && (
        <Alert type="info" showIcon title={t('signIn.expired')} style={{ marginBottom: 16 }} data-testid="signin-expired" />
      )}
      {refused !== null && (
        <Alert
          type="error"
          showIcon
          title={
            refused === 'wait'
              ? t('signIn.tooMany', { seconds: Math.max(1, Math.ceil(((waitUntil ?? now) - now) / 1000)) })
              : refused === 'wrong'
                ? t('signIn.refused')
                : describe(refused)
          }
          style={{ marginBottom: 16 }}
          data-testid="signin-error"
        />
      )}
      <Form<Fields> form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item name="name" label={t('signIn.name')} rules={[{ required: true, whitespace: true, message: t('signIn.nameRequired') }]}>
          <Input prefix={<UserOutlined />} autoComplete="username" autoFocus data-testid="signin-name" />
        </Form.Item>
        <Form.Item name="password" label={t('signIn.password')} rules={[{ required: true, message: t('signIn.passwordRequired') }]}>
          <Input.Password prefix={<LockOutlined />} autoComplete="current-password" data-testid="signin-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={sending} disabled={waiting} block data-testid="signin-submit">
          {t('signIn.submit')}
        </Button>
      </Form>
    </Card>
  );
}
