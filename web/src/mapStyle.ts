import type { MapOptions } from 'maplibre-gl';

export type Style = Exclude<MapOptions['style'], string | undefined>;

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
export function boundsOf(yards: Yard[]): [[number, number], [number, number]] | null {
  if (yards.length === 0) return null;
  const lons = yards.map((y) => y.lon);
  const lats = yards.map((y) => y.lat);
  return [
    [Math.min(...lons), Math.min(...lats)],
    [Math.max(...lons), Math.max(...lats)],
  ];
}
