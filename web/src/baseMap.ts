import {
  addProtocol,
  type GeoJSONSource,
  Map as MapLibre,
  NavigationControl,
  ScaleControl,
  setWorkerUrl,
} from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { PMTiles, Protocol, TileType } from 'pmtiles';
import { useEffect, useRef, useState, type RefObject } from 'react';

import type { MapConfig } from './api';
import { asError } from './errors';
import { styleFor, type ArchiveKind, type Style } from './mapStyle';

// MapLibre's worker, emitted by the build as one of our own files (its default URL would not exist once bundled).
setWorkerUrl(workerUrl);

/** Wuhan's centre: where a map opens when the deployment names no centre of its own. */
export const HOME: [number, number] = [114.3055, 30.5928];

/** A track as its terminal reported it (solid), and the route it was to take (dashed), as every map draws them. */
export const TRACK_COLOUR = '#722ed1';
export const PLANNED_COLOUR = '#fa8c16';
export const NO_FEATURES = { type: 'FeatureCollection' as const, features: [] };

/** Sources `${name}-planned` and `${name}-track`, empty, and their lines: the planned route dashed under the track. */
export function addTrackLayers(map: MapLibre, name: string): void {
  map.addSource(`${name}-planned`, { type: 'geojson', data: NO_FEATURES });
  map.addSource(`${name}-track`, { type: 'geojson', data: NO_FEATURES });
  map.addLayer({
    id: `${name}-planned-line`,
    type: 'line',
    source: `${name}-planned`,
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': PLANNED_COLOUR, 'line-width': 3, 'line-dasharray': [2, 2], 'line-opacity': 0.9 },
  });
  map.addLayer({
    id: `${name}-track-line`,
    type: 'line',
    source: `${name}-track`,
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': TRACK_COLOUR, 'line-width': 4, 'line-opacity': 0.85 },
  });
}

/** Replace a GeoJSON source's data (a source not there yet, before the map's style loaded, is left alone). */
export function setData(map: MapLibre, source: string, data: Parameters<GeoJSONSource['setData']>[0]): void {
  (map.getSource(source) as GeoJSONSource | undefined)?.setData(data);
}

/**
 * The deployment's base map as a MapLibre style (`GET /console/config`): its tile template, its PMTiles archive (the
 * app serves it from its own origin, read by HTTP range requests through the `pmtiles://` protocol), or the plain
 * background when it names neither, or when there is no config at all.
 */

let protocol: Protocol | null = null;

/** The `pmtiles://` protocol, registered with MapLibre once for the page. */
function pmtilesProtocol(): Protocol {
  if (protocol === null) {
    protocol = new Protocol();
    addProtocol('pmtiles', protocol.tile);
  }
  return protocol;
}

/** The style for `config`; an archive's header is read first, to know whether it holds images or vector tiles. */
export async function loadBaseStyle(config: MapConfig | null | undefined, origin = window.location.origin): Promise<Style> {
  const base = {
    tiles: config?.tiles ?? null,
    pmtiles: config?.pmtiles ?? null,
    attribution: config?.attribution ?? null,
    max_zoom: config?.max_zoom ?? null,
  };
  let kind: ArchiveKind | null = null;
  if (!base.tiles && base.pmtiles) {
    const archive = new PMTiles(new URL(base.pmtiles, origin).href);
    pmtilesProtocol().add(archive);
    const header = await archive.getHeader();
    kind = header.tileType === TileType.Mvt ? 'vector' : 'raster';
  }
  return styleFor(base, origin, kind);
}

/**
 * A MapLibre map in `container` on the deployment's base map, made once `config` is known (undefined: not yet;
 * null: none, the plain background), with a scale bar and zoom buttons. `onLoad` adds the page's own sources and
 * layers once the style has loaded, and only then is the map returned. A base map that fails to load leaves the
 * plain background, and the failure for the page to say.
 */
export function useBaseMap(
  container: RefObject<HTMLDivElement | null>,
  config: MapConfig | null | undefined,
  { zoom, onLoad }: { zoom: number; onLoad: (map: MapLibre) => void },
): { map: MapLibre | null; failure: Error | null } {
  const [map, setMap] = useState<MapLibre | null>(null);
  const [failure, setFailure] = useState<Error | null>(null);
  const loaded = useRef(onLoad);
  loaded.current = onLoad;

  useEffect(() => {
    if (!container.current || config === undefined) return;
    let created: MapLibre | null = null;
    let cancelled = false;
    void loadBaseStyle(config)
      .catch((error: unknown) => {
        setFailure(asError(error));
        return loadBaseStyle(null); // the plain background: no tiles, nothing to read first
      })
      .then((style) => {
        if (cancelled || !container.current) return;
        created = new MapLibre({
          container: container.current,
          style,
          center: config?.center ?? HOME,
          zoom: config?.zoom ?? zoom,
          maxZoom: config?.max_zoom ?? 19,
          attributionControl: config?.attribution ? { compact: true } : false,
        });
        created.addControl(new ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
        created.addControl(new NavigationControl({ showCompass: false }), 'top-right');
        const ready = created;
        ready.on('load', () => {
          loaded.current(ready);
          setMap(ready);
        });
      });
    return () => {
      cancelled = true;
      created?.remove();
      setMap(null);
    };
  }, [container, config, zoom]);

  return { map, failure };
}
