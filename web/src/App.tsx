import { ApiOutlined, CarOutlined, EnvironmentOutlined, LogoutOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { App as AntApp, Button, ConfigProvider, Layout, Menu, Segmented, Space, Spin, theme } from 'antd';
import enUS from 'antd/locale/en_US';
import zhCN from 'antd/locale/zh_CN';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';

import { setToken, useToken } from './auth';
import { isLanguage, storeLanguage, type Language } from './i18n';
import SignIn from './pages/SignIn';
import TripsPage from './pages/TripsPage';

// MapLibre is the biggest library here: only the map page loads it.
const MapPage = lazy(() => import('./pages/MapPage'));

function useLanguage(): [Language, (language: Language) => void] {
  const { i18n } = useTranslation();
  const language: Language = isLanguage(i18n.language) ? i18n.language : 'zh-CN';
  useEffect(() => {
    document.documentElement.lang = language;
    dayjs.locale(language === 'en' ? 'en' : 'zh-cn');
  }, [language]);
  const choose = (next: Language) => {
    storeLanguage(next);
    void i18n.changeLanguage(next);
  };
  return [language, choose];
}

function RequireToken({ children }: { children: ReactNode }) {
  const token = useToken();
  const location = useLocation();
  if (token === null) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return children;
}

function Shell() {
  const { t } = useTranslation();
  const [language, setLanguage] = useLanguage();
  const token = useToken();
  const location = useLocation();
  const queryClient = useQueryClient();
  const section = location.pathname.split('/')[1] ?? '';

  useEffect(() => {
    document.title = t('app.name');
  }, [t]);

  const signOut = () => {
    setToken(null);
    queryClient.clear();
  };

  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Header style={{ display: 'flex', alignItems: 'center', gap: 16 }}>
        <Link to="/" className="gongche-brand" data-testid="brand">
          {t('app.name')}
        </Link>
        {token !== null && (
          <Menu
            theme="dark"
            mode="horizontal"
            selectedKeys={[section]}
            style={{ flex: 1, minWidth: 0 }}
            items={[
              { key: 'trips', icon: <CarOutlined />, label: <Link to="/trips">{t('nav.trips')}</Link> },
              { key: 'map', icon: <EnvironmentOutlined />, label: <Link to="/map">{t('nav.map')}</Link> },
            ]}
          />
        )}
        <Space style={{ marginLeft: 'auto' }} size="middle">
          <Button type="link" href="/docs" icon={<ApiOutlined />} style={{ color: '#fff' }}>
            {t('app.docs')}
          </Button>
          <Segmented<Language>
            aria-label={t('app.language')}
            value={language}
            onChange={setLanguage}
            options={[
              { label: '中文', value: 'zh-CN' },
              { label: 'English', value: 'en' },
            ]}
          />
          {token !== null && (
            <Button icon={<LogoutOutlined />} onClick={signOut}>
              {t('app.signOut')}
            </Button>
          )}
        </Space>
      </Layout.Header>
      <Layout.Content style={{ padding: 24 }}>
        <Suspense fallback={<Spin />}>
          <Routes>
            <Route path="/signin" element={<SignIn />} />
            <Route
              path="/trips"
              element={
                <RequireToken>
                  <TripsPage />
                </RequireToken>
              }
            />
            <Route
              path="/map"
              element={
                <RequireToken>
                  <MapPage />
                </RequireToken>
              }
            />
            <Route path="*" element={<Navigate to="/trips" replace />} />
          </Routes>
        </Suspense>
      </Layout.Content>
    </Layout>
  );
}

export default function App() {
  const { i18n } = useTranslation();
  return (
    <ConfigProvider
      locale={i18n.language === 'en' ? enUS : zhCN}
      theme={{ algorithm: theme.defaultAlgorithm, token: { colorPrimary: '#c8102e' } }}
    >
      <AntApp>
        <Shell />
      </AntApp>
    </ConfigProvider>
  );
}
