import { Alert, Select, Space, Spin, Typography } from 'antd';
import { type Map as MapLibre, Marker, Popup } from 'maplibre-gl';
import { useEffect, useMemo, useRef, useState } from 'react';

import type { Trip } from '../api';
import { addTrackLayers, NO_FEATURES, PLANNED_COLOUR, setData, TRACK_COLOUR, useBaseMap } from '../baseMap';
import { useErrorText } from '../errors';
import { formatChinaDateTime } from '../time';
import {
  depotsOf,
  drawnTrackOf,
  extentOf,
  liveColour,
  liveVehiclesOf,
  onlineCount,
  routeOf,
  stopsOf,
  trackableTrips,
  type LiveVehicle,
} from './mapData';
import { useText } from './messages';
import { useLatestPositions, useTripTrack } from './queries';
import type { BoardVehicle, CalendarItem, MapConfig } from './types';


const SVG = 'http://www.w3.org/2000/svg';

/** A live vehicle's marker: an arrow turned to its course (a dot when parked or the course is unknown), its plate. */
function vehicleMarkerElement(): HTMLDivElement {
  const element = document.createElement('div');
  element.dataset.testid = 'vehicle-marker';
  element.style.cssText = 'display:flex;align-items:center;gap:2px;cursor:pointer;pointer-events:auto';
  const icon = document.createElementNS(SVG, 'svg');
  icon.setAttribute('width', '18');
  icon.setAttribute('height', '18');
  icon.setAttribute('viewBox', '-9 -9 18 18');
  const shape = document.createElementNS(SVG, 'path');
  shape.setAttribute('stroke', '#fff');
  shape.setAttribute('stroke-width', '1.5');
  icon.appendChild(shape);
  const plate = document.createElement('span');
  plate.style.cssText =
    'font:11px/1.3 sans-serif;background:rgba(255,255,255,.9);border-radius:3px;padding:0 3px;white-space:nowrap;' +
    'box-shadow:0 0 2px rgba(0,0,0,.4)';
  element.append(icon, plate);
  return element;
}

const ARROW = 'M0,-8 L6,7 L0,3 L-6,7 Z';
const DOT = 'M-5,0 A5,5 0 1,0 5,0 A5,5 0 1,0 -5,0 Z';

function paintVehicleMarker(element: HTMLElement, vehicle: LiveVehicle): void {
  const [icon, plate] = [element.children[0] as SVGSVGElement, element.children[1] as HTMLSpanElement];
  const shape = icon.firstChild as SVGPathElement;
  const heading = vehicle.moving && vehicle.course !== null;
  shape.setAttribute('d', heading ? ARROW : DOT);
  shape.setAttribute('fill', liveColour(vehicle));
  icon.style.transform = heading ? `rotate(${vehicle.course}deg)` : '';
  plate.textContent = vehicle.plate;
  plate.style.color = vehicle.online ? '#262626' : '#8c8c8c';
  element.dataset.vehicle = String(vehicle.id);
  element.dataset.online = String(vehicle.online);
  element.dataset.lon = vehicle.at[0].toFixed(6);
  element.dataset.lat = vehicle.at[1].toFixed(6);
}

/** Layers drawn over the base map: circles and lines only, which need no glyphs or sprites. */
function addOverlay(map: MapLibre): void {
  map.addSource('stops', { type: 'geojson', data: NO_FEATURES });
  map.addSource('route', { type: 'geojson', data: NO_FEATURES });
  map.addSource('route-stops', { type: 'geojson', data: NO_FEATURES });
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
  // A trip's planned route (dashed) under its track as driven (solid).
  addTrackLayers(map, 'trip');
  map.addLayer({
    id: 'route-stops',
    type: 'circle',
    source: 'route-stops',
    paint: { 'circle-radius': 6, 'circle-color': '#fff', 'circle-stroke-width': 3, 'circle-stroke-color': '#c8102e' },
  });
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
  /** The trip whose track is drawn beside its planned route; kept by the map itself when not given. */
  trip?: number | null;
  onTrip?: (tripId: number | null) => void;
}

/**
 * The day on a map: depots (vehicle homes) as markers, every pickup and drop-off of the day's trips as circles, and
 * the chosen vehicle's route (home → pickup → drop-off → … → home) as a line; a scale bar always. Every vehicle
 * where it is now (its newest fix, read every few seconds: an arrow to its course, its plate, green moving, blue
 * parked, grey offline), and a chosen trip's track as driven beside its planned route. Points are drawn in the base
 * map's datum (GCJ-02 when the deployment's tiles are). Nothing is loaded from outside the origin.
 */
export default function DayMapView({
  config,
  vehicles,
  items,
  trips,
  tripsLoading,
  selected,
  onSelect,
  trip,
  onTrip,
}: DayMapViewProps) {
  const { t } = useText();
  const describe = useErrorText();
  const [ownTrip, setOwnTrip] = useState<number | null>(null);
  const tripId = trip === undefined ? ownTrip : trip;
  const chooseTrip = onTrip ?? setOwnTrip;
  const container = useRef<HTMLDivElement>(null);
  const crs = config?.crs ?? 'wgs84';

  // The map, made once the configuration is known (its style depends on it).
  const { map, failure } = useBaseMap(container, config, {
    zoom: 10,
    onLoad: (ready) => {
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
    },
  });

  const depots = useMemo(() => depotsOf(vehicles, crs), [vehicles, crs]);
  const stops = useMemo(() => stopsOf(trips, crs), [trips, crs]);
  const tripsById = useMemo(() => new Map(trips.map((trip) => [trip.id, trip])), [trips]);
  const chosen = useMemo(() => vehicles.find((v) => v.id === selected) ?? null, [vehicles, selected]);
  const route = useMemo(
    () => (chosen ? routeOf(chosen, items, tripsById, crs) : null),
    [chosen, items, tripsById, crs],
  );

  // Where the vehicles are: DOM markers (their plates need no glyphs), moved in place at each poll.
  const live = useLatestPositions();
  const liveVehicles = useMemo(() => liveVehiclesOf(live.data?.items ?? [], crs), [live.data, crs]);
  const liveMarkers = useRef(new Map<number, Marker>());
  useEffect(() => {
    const markers = liveMarkers.current;
    return () => {
      for (const marker of markers.values()) marker.remove();
      markers.clear();
    };
  }, [map]);
  useEffect(() => {
    if (!map) return;
    const markers = liveMarkers.current;
    const shown = new Set<number>();
    for (const vehicle of liveVehicles) {
      shown.add(vehicle.id);
      let marker = markers.get(vehicle.id);
      if (!marker) {
        marker = new Marker({ element: vehicleMarkerElement(), anchor: 'left', offset: [-9, 0] })
          .setLngLat(vehicle.at)
          .setPopup(new Popup({ offset: 12, closeButton: false }))
          .addTo(map);
        markers.set(vehicle.id, marker);
      }
      marker.setLngLat(vehicle.at);
      paintVehicleMarker(marker.getElement(), vehicle);
      const state = !vehicle.online ? t('map.offline') : vehicle.moving ? t('map.moving') : t('map.parked');
      marker.getPopup()?.setText(
        t('map.vehicleTip', {
          plate: vehicle.plate,
          agency: vehicle.agency,
          state,
          speed: Math.round(vehicle.speedKmh),
          time: formatChinaDateTime(vehicle.fixedAt),
        }),
      );
    }
    for (const [id, marker] of markers) {
      if (!shown.has(id)) {
        marker.remove();
        markers.delete(id);
      }
    }
  }, [map, liveVehicles, t]);
  const counts = onlineCount(liveVehicles);

  // A trip's track beside its planned route.
  const tripChoices = useMemo(() => trackableTrips(trips), [trips]);
  const chosenTrip = useMemo(() => trips.find((candidate) => candidate.id === tripId) ?? null, [trips, tripId]);
  const trackRead = useTripTrack(tripId, chosenTrip?.status === 'in_progress');
  const drawn = useMemo(
    () => (tripId !== null && trackRead.data ? drawnTrackOf(trackRead.data, crs) : null),
    [tripId, trackRead.data, crs],
  );
  useEffect(() => {
    if (!map) return;
    const track = drawn?.track ?? NO_FEATURES;
    const planned = drawn?.planned ?? NO_FEATURES;
    setData(map, 'trip-track', track);
    setData(map, 'trip-planned', planned);
    // What the two layers were given, readable from the page (the browser tests; a support engineer's console).
    const element = container.current;
    if (element) {
      element.dataset.trackLines = String(track.features.length);
      element.dataset.trackPoints = String(drawn?.trackPoints ?? 0);
      element.dataset.plannedLines = String(planned.features.length);
    }
  }, [map, drawn]);

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
    setData(map, 'route', route?.line ? { type: 'FeatureCollection', features: [route.line] } : NO_FEATURES);
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

  // Framing: the chosen trip's track and plan (once per trip: it is read again while under way), else the chosen
  // route, else the whole day (depots and stops).
  const framedTrip = useRef<number | null>(null);
  useEffect(() => {
    if (!map) return;
    if (drawn && drawn.points.length > 0) {
      if (framedTrip.current === tripId) return;
      framedTrip.current = tripId;
      const around = extentOf(drawn.points);
      if (around) map.fitBounds(around, { padding: 60, maxZoom: 15, animate: false });
      return;
    }
    framedTrip.current = null;
    const points = route?.line
      ? route.line.geometry.coordinates
      : [...depots.map((d) => d.at), ...stops.features.map((f) => f.geometry.coordinates)];
    const extent = extentOf(points);
    if (extent) map.fitBounds(extent, { padding: 60, maxZoom: 14, animate: false });
  }, [map, route, depots, stops, drawn, tripId]);

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
        <Select<number>
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 300 }}
          placeholder={t('map.chooseTrip')}
          value={tripId}
          onChange={(value) => chooseTrip(value ?? null)}
          options={tripChoices.map((choice) => ({
            value: choice.id,
            label: t('map.tripOption', {
              id: choice.id,
              plate: choice.assignment?.plate ?? '',
              purpose: choice.purpose,
            }),
          }))}
          data-testid="track-trip"
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
          {' · '}
          <span className="gc-swatch" style={{ background: '#389e0d' }} /> {t('map.live')}{' '}
          <span data-testid="live-counts">
            {t('map.online')} <b data-testid="live-online">{counts.online}</b> / {t('map.offline')}{' '}
            <b data-testid="live-offline">{counts.offline}</b>
          </span>
          {tripId !== null && (
            <>
              {' · '}
              <span className="gc-swatch gc-swatch-route" style={{ background: TRACK_COLOUR }} /> {t('map.track')}
              {' · '}
              <span className="gc-swatch gc-swatch-route" style={{ background: PLANNED_COLOUR }} /> {t('map.planned')}{' '}
              <b data-testid="track-summary">
                {drawn === null
                  ? ''
                  : drawn.fixes === 0
                    ? t('map.noTrack')
                    : t('map.trackSummary', {
                        fixes: drawn.fixes,
                        km: drawn.km.toFixed(1),
                        planned: drawn.plannedKm?.toFixed(1) ?? '—',
                      }) + (drawn.simplified ? ` (${t('map.simplified')})` : '')}
              </b>
            </>
          )}
        </Typography.Text>
        {(tripsLoading || trackRead.isFetching) && <Spin size="small" />}
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
      {failure && <Alert type="warning" showIcon title={t('errors.load', { detail: describe(failure) })} />}
      {live.error && <Alert type="warning" showIcon title={t('map.liveFailed', { detail: describe(live.error) })} />}
      {trackRead.error && (
        <Alert type="warning" showIcon title={t('errors.load', { detail: describe(trackRead.error) })} />
      )}
      <div ref={container} className="gongche-map gc-map" data-testid="day-map" />
    </div>
  );
}
