import { describe, expect, it } from 'vitest';

import { boundsOf, plainStyle, pmtilesStyle, rasterStyle, styleFor, yardsOf, type BaseMap } from './mapStyle';

describe('the plain map style', () => {
  it('names nothing to fetch: no source, sprite, glyphs or URL of any kind', () => {
    const style = plainStyle();
    expect(style.sources).toEqual({});
    expect(style.sprite).toBeUndefined();
    expect(style.glyphs).toBeUndefined();
    expect(JSON.stringify(style)).not.toMatch(/https?:|\/\//);
    expect(style.layers.map((l) => l.type)).toEqual(['background']);
  });
});

describe('the base map from the console config', () => {
  const none: BaseMap = { tiles: null, pmtiles: null, attribution: null, max_zoom: null };
  const origin = 'http://127.0.0.1:8000';

  it('is the plain style when the deployment names no tiles', () => {
    expect(styleFor(none, origin)).toEqual(plainStyle());
    // an archive whose header has not been read yet: still nothing to fetch
    expect(styleFor({ ...none, pmtiles: '/map/tiles.pmtiles' }, origin, null)).toEqual(plainStyle());
  });

  it('is a raster layer over the background for a tile template, with its attribution and zoom', () => {
    const template = 'http://tiles.intranet.gov.cn/{z}/{x}/{y}.png';
    const style = styleFor({ ...none, tiles: template, attribution: '天地图', max_zoom: 17 }, origin);
    expect(style).toEqual(rasterStyle(template, { attribution: '天地图', maxZoom: 17 }));
    expect(style.sources.base).toMatchObject({ type: 'raster', tiles: [template], maxzoom: 17, attribution: '天地图' });
    expect(style.layers.map((l) => l.type)).toEqual(['background', 'raster']);
    expect(style.glyphs).toBeUndefined();
    expect(style.sprite).toBeUndefined();
  });

  it("reads a PMTiles archive through the pmtiles protocol at the app's own origin", () => {
    const raster = styleFor({ ...none, pmtiles: '/map/tiles.pmtiles' }, origin, 'raster');
    const archive = 'pmtiles://http://127.0.0.1:8000/map/tiles.pmtiles';
    expect(raster.sources.base).toMatchObject({ type: 'raster', url: archive });
    const vector = pmtilesStyle('http://127.0.0.1:8000/map/tiles.pmtiles', 'vector');
    expect(vector.sources.base).toMatchObject({ type: 'vector', url: archive });
    // fills and lines only: a symbol layer would need glyphs from somewhere
    expect(new Set(vector.layers.map((l) => l.type))).toEqual(new Set(['background', 'fill', 'line']));
    for (const style of [raster, vector]) {
      expect(style.glyphs).toBeUndefined();
      expect(style.sprite).toBeUndefined();
      const urls = JSON.stringify(style).match(/https?:\/\/[^"/]+/g) ?? [];
      expect(new Set(urls)).toEqual(new Set([origin]));
    }
  });
});

describe('yards', () => {
  const vehicle = (agency: string, lat: number | null, lon: number | null) => ({
    agency,
    home_lat: lat,
    home_lon: lon,
  });

  it('are one per agency and place, busiest first, counting the vehicles without one', () => {
    const { yards, unlocated } = yardsOf([
      vehicle('WH-CG', 30.545, 114.34),
      vehicle('WH-GA', 30.5928, 114.3055),
      vehicle('WH-GA', 30.5928, 114.3055),
      vehicle('WH-GA', null, null),
    ]);
    expect(yards).toEqual([
      { agency: 'WH-GA', lat: 30.5928, lon: 114.3055, vehicles: 2 },
      { agency: 'WH-CG', lat: 30.545, lon: 114.34, vehicles: 1 },
    ]);
    expect(unlocated).toBe(1);
  });

  it('are framed by their bounds', () => {
    const { yards } = yardsOf([vehicle('A', 30.5, 114.3), vehicle('B', 30.6, 114.2)]);
    expect(boundsOf(yards)).toEqual([
      [114.2, 30.5],
      [114.3, 30.6],
    ]);
    expect(boundsOf([])).toBeNull();
  });
});
