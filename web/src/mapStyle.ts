import type { MapOptions } from 'maplibre-gl';

export type Style = Exclude<MapOptions['style'], string | undefined>;
export type Layer = Style['layers'][number];
export type Source = Style['sources'][string];

/**
 * The map's style when no tiles are configured: a plain background and nothing else. It names no source, sprite or
 * glyphs, so MapLibre fetches nothing at all; the yards are drawn as DOM markers and distances by the scale bar.
 * Tiles, when a deployment has them, are to come from its own origin (a raster source added here).
 */
export function plainStyle(background = '#eef1f4'): Style {
  return {
    version: 8,
    name: 'gongche-plain',
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': background } }],
  };
}

/** What a deployment's base map is (`GET /console/config`'s `map`), as far as the style needs it. */
export interface BaseMap {
  tiles: string | null;
  pmtiles: string | null;
  attribution: string | null;
  max_zoom: number | null;
}

/** What a PMTiles archive holds, read from its header: raster images or vector tiles. */
export type ArchiveKind = 'raster' | 'vector';

const DEFAULT_MAX_ZOOM = 18;

/**
 * A raster base map from a `{z}/{x}/{y}` template (天地图, an intranet tile server): one raster layer over the plain
 * background. Still no sprite and no glyphs: labels, if any, are in the images.
 */
export function rasterStyle(
  tiles: string,
  { attribution = null, maxZoom = null }: { attribution?: string | null; maxZoom?: number | null } = {},
): Style {
  const style = plainStyle();
  style.name = 'gongche-raster';
  style.sources = {
    base: {
      type: 'raster',
      tiles: [tiles],
      tileSize: 256,
      maxzoom: maxZoom ?? DEFAULT_MAX_ZOOM,
      ...(attribution ? { attribution } : {}),
    },
  };
  style.layers.push({ id: 'base', type: 'raster', source: 'base' });
  return style;
}

/**
 * The layers drawn from a vector archive: fills and lines only (a symbol layer would need glyphs, which the console
 * does not load). Both common schemas are named — Protomaps' basemap (earth, water, roads…) and OpenMapTiles'
 * (water, transportation…): a layer whose source layer the archive lacks draws nothing.
 */
const VECTOR_LAYERS: [id: string, type: 'fill' | 'line', sourceLayer: string, paint: Record<string, unknown>][] = [
  ['earth', 'fill', 'earth', { 'fill-color': '#eef1f4' }],
  ['landuse', 'fill', 'landuse', { 'fill-color': '#e2eadb', 'fill-opacity': 0.7 }],
  ['landcover', 'fill', 'landcover', { 'fill-color': '#e2eadb', 'fill-opacity': 0.6 }],
  ['park', 'fill', 'park', { 'fill-color': '#d8e8c8', 'fill-opacity': 0.7 }],
  ['water', 'fill', 'water', { 'fill-color': '#b9d3e8' }],
  ['waterway', 'line', 'waterway', { 'line-color': '#b9d3e8', 'line-width': 1 }],
  ['buildings', 'fill', 'buildings', { 'fill-color': '#d9d6d0', 'fill-opacity': 0.8 }],
  ['building', 'fill', 'building', { 'fill-color': '#d9d6d0', 'fill-opacity': 0.8 }],
  ['roads', 'line', 'roads', { 'line-color': '#ffffff', 'line-width': 1.2 }],
  ['transportation', 'line', 'transportation', { 'line-color': '#ffffff', 'line-width': 1.2 }],
  ['boundaries', 'line', 'boundaries', { 'line-color': '#9a8fb0', 'line-width': 0.8, 'line-dasharray': [3, 2] }],
  ['boundary', 'line', 'boundary', { 'line-color': '#9a8fb0', 'line-width': 0.8, 'line-dasharray': [3, 2] }],
];

/**
 * A base map from a PMTiles archive served by the app itself (`/map/tiles.pmtiles`, read with HTTP range requests
 * through the `pmtiles://` protocol the map registers). `url` is the archive's absolute same-origin URL.
 */
export function pmtilesStyle(
  url: string,
  kind: ArchiveKind,
  { attribution = null, maxZoom = null }: { attribution?: string | null; maxZoom?: number | null } = {},
): Style {
  const style = plainStyle();
  style.name = `gongche-pmtiles-${kind}`;
  const common = { url: `pmtiles://${url}`, ...(attribution ? { attribution } : {}) };
  if (kind === 'raster') {
    style.sources = { base: { type: 'raster', tileSize: 256, ...common } };
    style.layers.push({ id: 'base', type: 'raster', source: 'base', ...(maxZoom ? { maxzoom: maxZoom + 1 } : {}) });
    return style;
  }
  style.sources = { base: { type: 'vector', ...common } };
  for (const [id, type, sourceLayer, paint] of VECTOR_LAYERS) {
    style.layers.push({ id: `base-${id}`, type, source: 'base', 'source-layer': sourceLayer, paint } as Layer);
  }
  return style;
}

/**
 * The style for a deployment's base map: its tiles when it names a template, its PMTiles archive when it names one
 * (`kind` read from the archive's header first), the plain background otherwise. `origin` turns the archive's path
 * into the absolute URL the protocol needs.
 */
export function styleFor(map: BaseMap, origin: string, kind: ArchiveKind | null = null): Style {
  const options = { attribution: map.attribution, maxZoom: map.max_zoom };
  if (map.tiles) return rasterStyle(map.tiles, options);
  if (map.pmtiles && kind) return pmtilesStyle(new URL(map.pmtiles, origin).href, kind, options);
  return plainStyle();
}

export interface Yard {
  agency: string;
  lat: number;
  lon: number;
  vehicles: number;
}

/** The yards of the vehicles that have one on record, one per agency and place, busiest first. */
export function yardsOf(vehicles: { agency: string; home_lat: number | null; home_lon: number | null }[]): {
  yards: Yard[];
  unlocated: number;
} {
  const byPlace = new Map<string, Yard>();
  let unlocated = 0;
  for (const v of vehicles) {
    if (v.home_lat === null || v.home_lon === null) {
      unlocated += 1;
      continue;
    }
    const key = `${v.agency}|${v.home_lat.toFixed(5)}|${v.home_lon.toFixed(5)}`;
    const yard = byPlace.get(key);
    if (yard) yard.vehicles += 1;
    else byPlace.set(key, { agency: v.agency, lat: v.home_lat, lon: v.home_lon, vehicles: 1 });
  }
  const yards = [...byPlace.values()].sort((a, b) => b.vehicles - a.vehicles || a.agency.localeCompare(b.agency));
  return { yards, unlocated };
}

/** [[west, south], [east, north]] around the yards, or null when there are none. */
export function boundsOf(yards: { lat: number; lon: number }[]): [[number, number], [number, number]] | null {
  if (yards.length === 0) return null;
  const lons = yards.map((y) => y.lon);
  const lats = yards.map((y) => y.lat);
  return [
    [Math.min(...lons), Math.min(...lats)],
    [Math.max(...lons), Math.max(...lats)],
  ];
}
