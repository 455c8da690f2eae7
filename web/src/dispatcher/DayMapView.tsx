import { Alert, Select, Space, Spin, Typography } from 'antd';
import {
  type GeoJSONSource,
  Map as MapLibre,
  Marker,
  NavigationControl,
  Popup,
  ScaleControl,
  setWorkerUrl,
} from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { useEffect, useMemo, useRef, useState } from 'react';

import type { Trip } from '../api';
import { loadBaseStyle } from '../baseMap';
import { depotsOf, extentOf, routeOf, stopsOf } from './mapData';
import { useText } from './messages';
import type { BoardVehicle, CalendarItem, MapConfig } from './types';

// MapLibre's worker, emitted by the build as one of our own files (its default URL would not exist once bundled).
setWorkerUrl(workerUrl);

/** Wuhan's centre: where the map opens when the deployment names none. */
const HOME: [number, number] = [114.3055, 30.5928];
const EMPTY = { type: 'FeatureCollection' as const, features: [] };

/** Layers drawn over the base map: circles and lines only, which need no glyphs or sprites. */
function addOverlay(map: MapLibre): void {
  map.addSource('stops', { type: 'geojson', data: EMPTY });
  map.addSource('route', { type: 'geojson', data: EMPTY });
  map.addSource('route-stops', { type: 'geojson', data: EMPTY });
  map.addLayer({
    id: 'stops-dropoff',
    type: 'circle',
    source: 'stops',
    filter: ['==', ['get', 'kind'], 'dropoff'],
    paint: {
      'circle-radius': 4,
      'circle-color': '#1677ff',
      'circle-opacity': 0.75,
      'circle-stroke-width': 1,
      'circle-stroke-color': '#fff',
    },
  });
  map.addLayer({
    id: 'stops-pickup',
    type: 'circle',
    source: 'stops',
    filter: ['==', ['get', 'kind'], 'pickup'],
    paint: {
      'circle-radius': 4,
      'circle-color': ['match', ['get', 'priority'], 'emergency', '#d4380d', 'law_enforcement', '#1d39c4', '#389e0d'],
      'circle-opacity': 0.85,
      'circle-stroke-width': 1,
      'circle-stroke-color': '#fff',
    },
  });
  map.addLayer({
    id: 'route-line',
    type: 'line',
    source: 'route',
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': '#c8102e', 'line-width': 3, 'line-opacity': 0.85 },
  });
  map.addLayer({
    id: 'route-stops',
    type: 'circle',
    source: 'route-stops',
    paint: { 'circle-radius': 6, 'circle-color': '#fff', 'circle-stroke-width': 3, 'circle-stroke-color': '#c8102e' },
  });
}

function setData(map: MapLibre, source: string, data: Parameters<GeoJSONSource["setData"]>[0]): void {
  (map.getSource(source) as GeoJSONSource | undefined)?.setData(data);
}

export interface DayMapViewProps {
  /** The deployment's base map; null: none could be read (the plain background); undefined: not known yet. */
  config: MapConfig | null | undefined;
  vehicles: BoardVehicle[];
  items: CalendarItem[];
  trips: Trip[];
  tripsLoading: boolean;
  selected: number | null;
  onSelect: (vehicleId: number | null) => void;
}

/**
 * The day on a map: depots (vehicle homes) as markers, every pickup and drop-off of the day's trips as circles, and
 * the chosen vehicle's route (home → pickup → drop-off → … → home) as a line; a scale bar always. Points are drawn
 * in the base map's datum (GCJ-02 when the deployment's tiles are). Nothing is loaded from outside the origin.
 */
export default function DayMapView({
  config,
  vehicles,
  items,
  trips,
  tripsLoading,
  selected,
  onSelect,
}: DayMapViewProps) {
  const { t } = useText();
  const container = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MapLibre | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const crs = config?.crs ?? 'wgs84';

  // The map, made once the configuration is known (its style depends on it).
  useEffect(() => {
    if (!container.current || config === undefined) return;
    let created: MapLibre | null = null;
    let cancelled = false;
    void loadBaseStyle(config)
      .catch((error: unknown) => {
        setFailure(error instanceof Error ? error.message : String(error));
        return loadBaseStyle(null); // the plain background: no tiles, nothing to read first
      })
      .then((style) => {
        if (cancelled || !container.current) return;
        created = new MapLibre({
          container: container.current,
          style,
          center: config?.center ?? HOME,
          zoom: config?.zoom ?? 10,
          maxZoom: config?.max_zoom ?? 19,
          attributionControl: config?.attribution ? { compact: true } : false,
        });
        created.addControl(new ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
        created.addControl(new NavigationControl({ showCompass: false }), 'top-right');
        const ready = created;
        ready.on('load', () => {
          addOverlay(ready);
          for (const layer of ['stops-pickup', 'stops-dropoff']) {
            ready.on('click', layer, (event) => {
              const feature = event.features?.[0];
              if (!feature) return;
              const text = document.createElement('div');
              const p = feature.properties as { trip: number; kind: string; address: string };
              text.textContent = `#${p.trip} · ${p.address}`;
              new Popup({ closeButton: false, offset: 8 }).setLngLat(event.lngLat).setDOMContent(text).addTo(ready);
            });
          }
          setMap(ready);
        });
      });
    return () => {
      cancelled = true;
      created?.remove();
      setMap(null);
    };
  }, [config]);

  const depots = useMemo(() => depotsOf(vehicles, crs), [vehicles, crs]);
  const stops = useMemo(() => stopsOf(trips, crs), [trips, crs]);
  const tripsById = useMemo(() => new Map(trips.map((trip) => [trip.id, trip])), [trips]);
  const chosen = useMemo(() => vehicles.find((v) => v.id === selected) ?? null, [vehicles, selected]);
  const route = useMemo(
    () => (chosen ? routeOf(chosen, items, tripsById, crs) : null),
    [chosen, items, tripsById, crs],
  );

  // Depots: DOM markers (no glyphs needed for their labels).
  useEffect(() => {
    if (!map) return;
    const markers = depots.map((depot) => {
      const text = document.createElement('div');
      text.textContent = t('map.depotOf', { agency: depot.agency, count: depot.vehicles });
      const marker = new Marker({ color: '#595959', scale: 0.8 })
        .setLngLat(depot.at)
        .setPopup(new Popup({ offset: 20, closeButton: false }).setDOMContent(text))
        .addTo(map);
      marker.getElement().dataset.testid = 'depot-marker';
      return marker;
    });
    return () => {
      for (const marker of markers) marker.remove();
    };
  }, [map, depots, t]);

  useEffect(() => {
    if (map) setData(map, 'stops', stops);
  }, [map, stops]);

  useEffect(() => {
    if (!map) return;
    setData(map, 'route', route?.line ? { type: 'FeatureCollection', features: [route.line] } : EMPTY);
    setData(map, 'route-stops', {
      type: 'FeatureCollection',
      features: (route?.stops ?? [])
        .filter((s) => s.kind !== 'home')
        .map((s) => ({
          type: 'Feature',
          geometry: { type: 'Point', coordinates: s.at },
          properties: { trip: s.trip, kind: s.kind },
        })),
    });
  }, [map, route]);

  // Framing: the chosen route, else the whole day (depots and stops).
  useEffect(() => {
    if (!map) return;
    const points = route?.line
      ? route.line.geometry.coordinates
      : [...depots.map((d) => d.at), ...stops.features.map((f) => f.geometry.coordinates)];
    const extent = extentOf(points);
    if (extent) map.fitBounds(extent, { padding: 60, maxZoom: 14, animate: false });
  }, [map, route, depots, stops]);

  const pickups = stops.features.filter((f) => f.properties.kind === 'pickup').length;
  return (
    <div className="gc-day-map">
      <Space wrap style={{ marginBottom: 8 }}>
        <Select<number>
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 240 }}
          placeholder={t('map.chooseVehicle')}
          value={selected}
          onChange={(value) => onSelect(value ?? null)}
          options={vehicles.map((v) => ({ value: v.id, label: `${v.plate} · ${v.agency}` }))}
          data-testid="route-vehicle"
        />
        <Typography.Text type="secondary" data-testid="map-legend">
          <span className="gc-swatch gc-swatch-depot" /> {t('map.depots')}{' '}
          <b data-testid="depot-count">{depots.length}</b>
          {' · '}
          <span className="gc-swatch gc-swatch-pickup" /> {t('map.pickups')} <b data-testid="pickup-count">{pickups}</b>
          {' · '}
          <span className="gc-swatch gc-swatch-dropoff" /> {t('map.dropoffs')}{' '}
          <b data-testid="dropoff-count">{stops.features.length - pickups}</b>
          {route && (
            <>
              {' · '}
              <span className="gc-swatch gc-swatch-route" /> {t('map.route')}{' '}
              <b data-testid="route-trips">
                {route.trips.length > 0 ? t('map.stops', { count: route.trips.length }) : t('map.noRoute')}
              </b>
            </>
          )}
        </Typography.Text>
        {tripsLoading && <Spin size="small" />}
      </Space>
      {!config?.tiles && !config?.pmtiles && (
        <Typography.Paragraph type="secondary" style={{ marginBottom: 8 }}>
          {t('map.noTiles')}
        </Typography.Paragraph>
      )}
      {crs === 'gcj02' && (
        <Typography.Paragraph type="secondary" style={{ marginBottom: 8 }}>
          {t('map.gcj02')}
        </Typography.Paragraph>
      )}
      {failure && <Alert type="warning" showIcon title={t('errors.load', { detail: failure })} />}
      <div ref={container} className="gongche-map gc-map" data-testid="day-map" />
    </div>
  );
}
