import { describe, expect, it } from 'vitest';

import { boundsOf, plainStyle, yardsOf } from './mapStyle';

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
