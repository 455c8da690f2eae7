import { useQuery } from '@tanstack/react-query';
import { Alert, Spin, Typography } from 'antd';
import { type Map as MapLibre, Popup } from 'maplibre-gl';
import { useEffect, useMemo, useRef } from 'react';
import { useTranslation } from 'react-i18next';

import { ApiError, type MapConfig } from '../api';
import { addTrackLayers, NO_FEATURES, setData, TRACK_COLOUR, useBaseMap } from '../baseMap';
import { displayTransform } from '../dispatcher/gcj02';
import { drawnTrackOf, extentOf, type DrawnTrack } from '../dispatcher/mapData';
import { useErrorText } from '../errors';
import { bookedRoute, findingTrack, type EvidencePoint } from '../findings';
import { formatChinaWindow } from '../time';

const POINT_COLOUR = '#c8102e';

/** The planned route's line of a trip's track, in display coordinates (already shifted), or null. */
function plannedOf(drawn: DrawnTrack | null): [number, number][] | null {
  const line = drawn?.planned.features[0]?.geometry;
  return line?.type === 'LineString' ? (line.coordinates as [number, number][]) : null;
}

/** Circles and lines only over the base map: they need no glyphs or sprites, so nothing more is fetched. */
function addOverlay(map: MapLibre): void {
  addTrackLayers(map, 'finding');
  map.addSource('finding-points', { type: 'geojson', data: NO_FEATURES });
  map.addLayer({
    id: 'finding-points-circle',
    type: 'circle',
    source: 'finding-points',
    paint: {
      'circle-radius': 7,
      'circle-color': POINT_COLOUR,
      'circle-stroke-width': 2,
      'circle-stroke-color': '#fff',
    },
  });
}

export interface FindingMapProps {
  /** The deployment's base map; null: none (the plain background). */
  config: MapConfig | null;
  vehicleId: number;
  /** The finding's trip: its track is drawn instead where the vehicle is outside the caller's scope. */
  tripId: number | null;
  window: { start: string; end: string };
  evidence: Record<string, unknown>;
  points: EvidencePoint[];
  /** The label of an evidence point (its evidence name in the page's language). */
  pointLabel: (key: string) => string;
}

/**
 * A finding on the map: the vehicle's track over the finding's window (what its terminal reported), the places the
 * evidence names as red circles (a click says which), and a detour's booked route dashed beneath. Points are drawn
 * in the base map's datum (GCJ-02 when the deployment's tiles are). Nothing is loaded from outside the origin.
 */
export default function FindingMap({ config, vehicleId, tripId, window, evidence, points, pointLabel }: FindingMapProps) {
  const { t } = useTranslation();
  const describe = useErrorText();
  const container = useRef<HTMLDivElement>(null);
  const crs = config?.crs ?? 'wgs84';

  const track = useQuery({
    queryKey: ['vehicles', 'track', vehicleId, tripId, window.start, window.end],
    queryFn: ({ signal }) => findingTrack(vehicleId, tripId, window, signal),
  });

  const { map, failure } = useBaseMap(container, config, {
    zoom: 11,
    onLoad: (ready) => {
      addOverlay(ready);
      ready.on('click', 'finding-points-circle', (event) => {
        const feature = event.features?.[0];
        if (!feature) return;
        const text = document.createElement('div');
        text.textContent = String((feature.properties as { label: string }).label);
        new Popup({ closeButton: false, offset: 8 }).setLngLat(event.lngLat).setDOMContent(text).addTo(ready);
      });
    },
  });

  const drawn = useMemo(() => (track.data ? drawnTrackOf(track.data.track, crs) : null), [track.data, crs]);
  const shown = useMemo(() => {
    const shift = displayTransform(crs);
    return {
      points: points.map((point) => ({ ...point, at: shift([point.lon, point.lat]) })),
      // A detour's booked route; else, with the trip's track, the trip's planned route.
      route: bookedRoute(evidence)?.map((stop) => shift(stop)) ?? plannedOf(drawn),
    };
  }, [points, evidence, crs, drawn]);

  useEffect(() => {
    if (!map) return;
    setData(map, 'finding-points', {
      type: 'FeatureCollection',
      features: shown.points.map((point) => ({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: point.at },
        properties: { key: point.key, label: pointLabel(point.key) },
      })),
    });
    setData(
      map,
      'finding-planned',
      shown.route
        ? { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'LineString', coordinates: shown.route }, properties: {} }] }
        : NO_FEATURES,
    );
    const element = container.current;
    if (element) element.dataset.evidencePoints = String(shown.points.length);
  }, [map, shown, pointLabel]);

  useEffect(() => {
    if (!map || !drawn) return;
    setData(map, 'finding-track', drawn.track);
    // What the map was given, readable from the page (the browser tests; a support engineer's console).
    const element = container.current;
    if (element) {
      element.dataset.trackLines = String(drawn.track.features.length);
      element.dataset.trackPoints = String(drawn.trackPoints);
      element.dataset.drawn = 'true';
    }
    const around = extentOf([...drawn.points, ...shown.points.map((point) => point.at), ...(shown.route ?? [])]);
    if (around) map.fitBounds(around, { padding: 48, maxZoom: 15, animate: false });
  }, [map, drawn, shown]);

  return (
    <div>
      <Typography.Paragraph type="secondary" style={{ marginBottom: 8 }}>
        {t('findings.window', { window: formatChinaWindow(window.start, window.end) })}
        {' · '}
        <span className="gongche-swatch gongche-swatch-line" style={{ background: TRACK_COLOUR }} />{' '}
        <b data-testid="finding-track-summary">
          {drawn === null
            ? ''
            : drawn.fixes === 0
              ? t('findings.noTrack')
              : t('findings.trackSummary', { fixes: drawn.fixes, km: drawn.km.toFixed(1) }) +
                (drawn.simplified ? ` (${t('findings.simplified')})` : '')}
        </b>
        {' · '}
        <span className="gongche-swatch" style={{ background: POINT_COLOUR }} />{' '}
        {t('findings.evidencePoints')} <b data-testid="finding-point-count">{points.length}</b>
        {track.isFetching && <Spin size="small" style={{ marginLeft: 8 }} />}
      </Typography.Paragraph>
      {track.data?.source === 'trip' && tripId !== null && (
        <Alert type="info" showIcon title={t('findings.trackOfTrip', { trip: tripId })} style={{ marginBottom: 8 }} data-testid="finding-track-of-trip" />
      )}
      {failure && <Alert type="warning" showIcon title={t('errors.load', { detail: describe(failure) })} />}
      {track.error && (
        <Alert
          type="warning"
          showIcon
          // A trip of the scope's may have been served by a vehicle outside it (another agency's, or one transferred
          // since): its track is not the supervisor's to read, which the API answers as an unknown vehicle.
          title={
            track.error instanceof ApiError && track.error.status === 404
              ? t('findings.trackOutOfScope')
              : t('errors.load', { detail: describe(track.error) })
          }
          style={{ marginBottom: 8 }}
          data-testid="finding-track-error"
        />
      )}
      <div ref={container} className="gongche-finding-map" data-testid="finding-map" />
    </div>
  );
}
