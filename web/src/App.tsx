import {
  ApiOutlined,
  AuditOutlined,
  CalendarOutlined,
  CarOutlined,
  DatabaseOutlined,
  DownOutlined,
  EditOutlined,
  EnvironmentOutlined,
  FileSearchOutlined,
  KeyOutlined,
  LogoutOutlined,
  ProfileOutlined,
  ScheduleOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import {
  Alert,
  App as AntApp,
  Button,
  ConfigProvider,
  Dropdown,
  Grid,
  Layout,
  Menu,
  Result,
  Segmented,
  Space,
  Spin,
  theme,
  Typography,
} from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import { lazy, Suspense, useCallback, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router';

import { ApiError, getJson, sendJson, useVocabulary } from './api';
import {
  homeOf,
  mayHaveSession,
  mayOpen,
  sectionsOf,
  signedIn,
  signedOut,
  useSession,
  type Me,
  type Section,
} from './auth';
import { asError, useErrorText } from './errors';
import { isLanguage, storeLanguage, type Language } from './i18n';
import { useLive } from './live';
import PasswordDialog from './pages/PasswordDialog';
import SignIn from './pages/SignIn';
import { label } from './vocabulary';

// Each role's pages load when first opened: a driver's phone never loads the board, the map or the timeline.
const BookPage = lazy(() => import('./pages/BookPage'));
const TripsPage = lazy(() => import('./pages/TripsPage'));
const ApprovalsPage = lazy(() => import('./pages/ApprovalsPage'));
const DriverPage = lazy(() => import('./pages/DriverPage'));
const MapPage = lazy(() => import('./pages/MapPage'));
const FindingsPage = lazy(() => import('./pages/FindingsPage'));
const VehiclesPage = lazy(() => import('./pages/VehiclesPage'));
const DayBoard = lazy(() => import('./dispatcher/DayBoard'));
const DayMap = lazy(() => import('./dispatcher/DayMap'));

function useLanguage(): [Language, (language: Language) => void] {
  const { i18n } = useTranslation();
  const queryClient = useQueryClient();
  const language: Language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  useEffect(() => {
    document.documentElement.lang = language;
    dayjs.locale(language === 'en' ? 'en' : 'zh-cn');
  }, [language]);
  const choose = (next: Language) => {
    storeLanguage(next);
    void i18n.changeLanguage(next).then(() =>
      // A read that failed is read again in the new language: its error then says why in it, whatever the server
      // said (errors.ts words it again from the server's catalog meanwhile, where the catalog has the sentence).
      queryClient.refetchQueries({ type: 'active', predicate: (query) => query.state.status === 'error' }),
    );
  };
  return [language, choose];
}

const ICONS: Record<Section, ReactNode> = {
  book: <EditOutlined />,
  trips: <ProfileOutlined />,
  approvals: <AuditOutlined />,
  board: <ScheduleOutlined />,
  map: <EnvironmentOutlined />,
  driver: <CarOutlined />,
  yards: <CalendarOutlined />,
  findings: <FileSearchOutlined />,
  vehicles: <DatabaseOutlined />,
};

/** The label of a section in the menu: "my trips" for those who book, "trips" for those who watch them all. */
function sectionLabel(section: Section, role: string, t: ReturnType<typeof useTranslation>['t']): string {
  if (section === 'trips') return role === 'requester' || role === 'approver' ? t('nav.myTrips') : t('nav.trips');
  return t(`nav.${section}`);
}

/** A page of a section: only for the roles whose menu has it; others go to their own home. */
function Guard({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session.state !== 'signedIn') {
    return <Navigate to="/signin" replace state={{ from: `${location.pathname}${location.search}` }} />;
  }
  if (!mayOpen(session.user.role, location.pathname)) return <Navigate to={homeOf(session.user.role)} replace />;
  return children;
}

function Home() {
  const session = useSession();
  if (session.state !== 'signedIn') return <Navigate to="/signin" replace />;
  return <Navigate to={homeOf(session.user.role)} replace />;
}

function Account({ me, compact, onPassword }: { me: Me; compact: boolean; onPassword: () => void }) {
  const { t, i18n } = useTranslation();
  const language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  const vocabulary = useVocabulary();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { message } = AntApp.useApp();
  const describe = useErrorText();
  const role = label(vocabulary.data, 'role', me.role, language);
  const agency = me.agency_name ?? me.agency;

  const signOut = async () => {
    // A read still under way when the session ends would come back refused (a 401 in the console): stop them first.
    await queryClient.cancelQueries();
    try {
      await sendJson('POST', '/auth/logout');
    } catch (error) {
      // The session may have ended already (401): signed out either way. Anything else is said, and still local.
      if (!(error instanceof ApiError && error.status === 401)) void message.warning(describe(error));
    }
    signedOut();
    queryClient.clear();
    void navigate('/signin', { replace: true });
  };

  return (
    <Space size="small">
      {!compact && (
        <span className="gongche-who" data-testid="who">
          <Typography.Text strong style={{ color: '#fff' }} data-testid="who-name">
            {me.name}
          </Typography.Text>
          <Typography.Text style={{ color: 'rgba(255,255,255,0.75)' }} data-testid="who-role">
            {role}
            {agency ? ` · ${agency}` : ''}
          </Typography.Text>
        </span>
      )}
      <Dropdown
        trigger={['click']}
        menu={{
          items: [
            ...(compact
              ? [{ key: 'who', disabled: true, label: `${me.name} · ${role}${agency ? ` · ${agency}` : ''}` }]
              : []),
            { key: 'password', icon: <KeyOutlined />, label: t('app.changePassword'), onClick: onPassword },
            { key: 'signOut', icon: <LogoutOutlined />, label: t('app.signOut'), onClick: () => void signOut() },
          ],
        }}
      >
        <Button icon={<UserOutlined />} data-testid="account">
          {compact ? null : t('app.account')}
          <DownOutlined />
        </Button>
      </Dropdown>
    </Space>
  );
}

/** Asks the server who is signed in when the page loads: the session cookie cannot be read, only tried. */
function useSessionCheck(): { error: Error | null; retry: () => void } {
  const session = useSession();
  const [error, setError] = useState<Error | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (session.state !== 'checking') return;
    // No CSRF cookie, no session: the sign-in page at once, without a request the server can only refuse.
    if (!mayHaveSession()) {
      signedOut();
      return;
    }
    const controller = new AbortController();
    getJson<Me>('/auth/me', controller.signal)
      .then((me) => signedIn(me))
      .catch((failure: unknown) => {
        if (controller.signal.aborted) return;
        if (failure instanceof ApiError && failure.status === 401) return; // signed out by the client already
        setError(asError(failure));
      });
    return () => controller.abort();
  }, [session.state, attempt]);
  const retry = useCallback(() => {
    setError(null);
    setAttempt((n) => n + 1);
  }, []);
  return { error, retry };
}

function Shell() {
  const { t } = useTranslation();
  const [language, setLanguage] = useLanguage();
  const describe = useErrorText();
  const session = useSession();
  const location = useLocation();
  const queryClient = useQueryClient();
  const screens = Grid.useBreakpoint();
  const compact = !screens.md;
  const [passwordOpen, setPasswordOpen] = useState(false);
  const check = useSessionCheck();
  const me = session.state === 'signedIn' ? session.user : null;
  const live = useLive(me !== null);
  const section = location.pathname.split('/')[1] ?? '';

  useEffect(() => {
    document.title = t('app.name');
  }, [t]);

  // Whoever signs in next starts from an empty cache: nothing of the last user's is shown to the next.
  useEffect(() => {
    if (session.state === 'signedOut') queryClient.clear();
  }, [session.state, queryClient]);

  const sections = me ? sectionsOf(me.role) : [];

  let content: ReactNode;
  if (session.state === 'checking') {
    content = check.error ? (
      <Result
        status="warning"
        title={t('errors.unreachable')}
        subTitle={describe(check.error)}
        extra={
          <Button type="primary" onClick={check.retry}>
            {t('app.retry')}
          </Button>
        }
      />
    ) : (
      <Spin size="large" style={{ display: 'block', margin: '96px auto' }} />
    );
  } else {
    const guarded = (page: ReactNode) => <Guard>{page}</Guard>;
    content = (
      <Suspense fallback={<Spin style={{ display: 'block', margin: '48px auto' }} />}>
        <Routes>
          <Route path="/signin" element={<SignIn />} />
          <Route path="/book" element={guarded(<BookPage />)} />
          <Route path="/trips" element={guarded(<TripsPage />)} />
          <Route path="/approvals" element={guarded(<ApprovalsPage />)} />
          <Route path="/driver" element={guarded(<DriverPage />)} />
          <Route path="/board" element={guarded(<DayBoard />)} />
          <Route path="/map" element={guarded(<DayMap />)} />
          <Route path="/yards" element={guarded(<MapPage />)} />
          <Route path="/findings" element={guarded(<FindingsPage />)} />
          <Route path="/vehicles" element={guarded(<VehiclesPage />)} />
          <Route path="*" element={<Home />} />
        </Routes>
      </Suspense>
    );
  }

  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Header className="gongche-header" style={{ paddingInline: compact ? 12 : 32 }}>
        <Link to="/" className="gongche-brand" data-testid="brand" title={t('app.name')} style={compact ? { marginRight: 0, fontSize: 16 } : {}}>
          {t('app.name')}
        </Link>
        {me !== null && sections.length > 1 ? (
          <Menu
            theme="dark"
            mode="horizontal"
            selectedKeys={[section]}
            // On a phone the menu keeps room for its overflow button (…), which opens the sections that do not fit.
            style={{ flex: 1, minWidth: compact ? 48 : 0 }}
            data-testid="menu"
            items={sections.map((key) => ({
              key,
              icon: ICONS[key],
              label: <Link to={`/${key}`}>{sectionLabel(key, me.role, t)}</Link>,
            }))}
          />
        ) : (
          <div style={{ flex: 1 }} />
        )}
        <Space size={compact ? 'small' : 'middle'} className="gongche-header-tools">
          {!compact && (
            <Button type="link" href="/docs" icon={<ApiOutlined />} style={{ color: '#fff' }}>
              {t('app.docs')}
            </Button>
          )}
          <Segmented<Language>
            aria-label={t('app.language')}
            size={compact ? 'small' : 'middle'}
            value={language}
            onChange={setLanguage}
            options={[
              { label: '中文', value: 'zh-CN' },
              { label: compact ? 'EN' : 'English', value: 'en' },
            ]}
          />
          {me !== null && <Account me={me} compact={compact} onPassword={() => setPasswordOpen(true)} />}
        </Space>
      </Layout.Header>
      {live.lost && (
        <Alert
          banner
          type="warning"
          showIcon
          title={t('app.liveLost')}
          data-testid="live-lost"
          style={{ position: 'sticky', top: 0, zIndex: 10 }}
        />
      )}
      <Layout.Content style={{ padding: compact ? 12 : 24 }}>{content}</Layout.Content>
      {me !== null && <PasswordDialog open={passwordOpen} onClose={() => setPasswordOpen(false)} />}
    </Layout>
  );
}

const REDUCED_MOTION = '(prefers-reduced-motion: reduce)';

function watchReducedMotion(changed: () => void): () => void {
  const query = window.matchMedia(REDUCED_MOTION);
  query.addEventListener('change', changed);
  return () => query.removeEventListener('change', changed);
}

/** Whether the person asked their system for less motion: then menus, drawers and dialogs appear without
 * animating, and nothing moves under a pointer that is already on its way to it. */
function usePrefersReducedMotion(): boolean {
  return useSyncExternalStore(watchReducedMotion, () => window.matchMedia(REDUCED_MOTION).matches);
}

export default function App() {
  const { i18n } = useTranslation();
  const reducedMotion = usePrefersReducedMotion();
  return (
    <ConfigProvider
      locale={i18n.language === 'en' ? enUS : zhCN}
      theme={{ algorithm: theme.defaultAlgorithm, token: { colorPrimary: '#c8102e', motion: !reducedMotion } }}
    >
      <AntApp>
        <Shell />
      </AntApp>
    </ConfigProvider>
  );
}
