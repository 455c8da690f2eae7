import { Alert, Card, Col, Row, Table, Typography } from 'antd';
import { Map as MapLibre, Marker, NavigationControl, Popup, ScaleControl } from 'maplibre-gl';
import { useEffect, useMemo, useRef } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError, useAgencies, useConsoleConfig, useVehicles, type MapConfig } from '../api';
import { HOME, loadBaseStyle } from '../baseMap';
import { displayTransform } from '../dispatcher/gcj02';
import { useErrorText } from '../errors';
import { boundsOf, plainStyle, yardsOf, type Yard } from '../mapStyle';



function YardMap({ yards, names, base }: { yards: Yard[]; names: Map<string, string>; base: MapConfig | null }) {
  const container = useRef<HTMLDivElement>(null);
  const map = useRef<MapLibre | null>(null);
  const crs = base?.crs ?? 'wgs84';

  useEffect(() => {
    if (!container.current) return;
    const created = new MapLibre({
      container: container.current,
      style: plainStyle(), // the deployment's base map replaces it once known
      center: base?.center ?? HOME,
      zoom: base?.zoom ?? 10,
      attributionControl: base?.attribution ? { compact: true } : false,
    });
    let alive = true;
    if (base?.tiles || base?.pmtiles) {
      loadBaseStyle(base)
        .then((style) => {
          if (alive) created.setStyle(style);
        })
        .catch(() => undefined); // the plain background stays
    }
    created.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
    created.addControl(new NavigationControl({ showCompass: false }), 'top-right');
    map.current = created;
    return () => {
      alive = false;
      created.remove();
      map.current = null;
    };
  }, [base]);

  useEffect(() => {
    const current = map.current;
    if (!current) return;
    const show = displayTransform(crs);
    const markers = yards.map((yard) => {
      const text = document.createElement('div');
      text.textContent = `${names.get(yard.agency) ?? yard.agency} (${yard.agency}): ${yard.vehicles}`;
      return new Marker({ color: '#c8102e' })
        .setLngLat(show([yard.lon, yard.lat]))
        .setPopup(new Popup({ offset: 24, closeButton: false }).setDOMContent(text))
        .addTo(current);
    });
    for (const marker of markers) marker.getElement().dataset.testid = 'yard-marker';
    const bounds = boundsOf(yards.map((yard) => {
      const [lon, lat] = show([yard.lon, yard.lat]);
      return { lon, lat };
    }));
    if (bounds) current.fitBounds(bounds, { padding: 80, maxZoom: 13, animate: false });
    return () => {
      for (const marker of markers) marker.remove();
    };
  }, [yards, names, crs, base]);

  return <div ref={container} className="gongche-map" data-testid="map" />;
}

/**
 * The vehicles' home yards on the deployment's base map (or the plain background: nothing is fetched from elsewhere),
 * with the agency list.
 */
export default function MapPage() {
  const { t } = useTranslation();
  const describe = useErrorText();
  const vehicles = useVehicles();
  const agencies = useAgencies();
  const config = useConsoleConfig();
  const base = config.data?.map ?? null;
  const tiled = Boolean(base?.tiles || base?.pmtiles);
  const forbidden = vehicles.error instanceof ApiError && vehicles.error.status === 403;
  const { yards, unlocated } = useMemo(() => yardsOf(vehicles.data ?? []), [vehicles.data]);
  const names = useMemo(() => new Map((agencies.data ?? []).map((a) => [a.code, a.name])), [agencies.data]);
  const rows = useMemo(() => {
    const byAgency = new Map<string, { agency: string; vehicles: number; located: number }>();
    for (const v of vehicles.data ?? []) {
      const row = byAgency.get(v.agency) ?? { agency: v.agency, vehicles: 0, located: 0 };
      row.vehicles += 1;
      if (v.home_lat !== null && v.home_lon !== null) row.located += 1;
      byAgency.set(v.agency, row);
    }
    return [...byAgency.values()].sort((a, b) => a.agency.localeCompare(b.agency));
  }, [vehicles.data]);

  return (
    <Row gutter={24}>
      <Col xs={24} lg={16}>
        <Card title={t('map.title')} extra={tiled ? null : <Typography.Text type="secondary">{t('map.noTiles')}</Typography.Text>}>
          {forbidden && <Alert type="info" showIcon title={t('map.forbidden')} style={{ marginBottom: 16 }} />}
          {vehicles.error && !forbidden && (
            <Alert type="error" showIcon title={t('errors.load', { detail: describe(vehicles.error) })} />
          )}
          {!config.isPending && <YardMap yards={yards} names={names} base={base} />}
        </Card>
      </Col>
      <Col xs={24} lg={8}>
        <Card title={t('map.yards')}>
          <Table
            rowKey="agency"
            size="small"
            pagination={false}
            loading={vehicles.isFetching}
            dataSource={rows}
            data-testid="agency-list"
            columns={[
              {
                title: t('map.agency'),
                dataIndex: 'agency',
                render: (code: string) => (names.has(code) ? `${names.get(code)} (${code})` : code),
              },
              { title: t('map.vehicles'), dataIndex: 'vehicles', align: 'right' },
              { title: t('map.located'), dataIndex: 'located', align: 'right' },
            ]}
          />
          {unlocated > 0 && (
            <Typography.Paragraph type="secondary" style={{ marginTop: 12 }}>
              {t('map.unlocated', { count: unlocated })}
            </Typography.Paragraph>
          )}
        </Card>
      </Col>
    </Row>
  );
}
