import { describe, expect, it } from 'vitest';

import { displayTransform, gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from './gcj02';

/**
 * Reference pairs published with googollee/eviltransform (go/transform_test.go: "shanghai", "shenzhen", "beijing"),
 * written there as [wgsLat, wgsLng, gcjLat, gcjLng]; that test compares them to 5 decimals, here to 1e-7 degrees
 * (about a centimetre).
 */
const REFERENCE: [string, number, number, number, number][] = [
  ['Shanghai', 31.1774276, 121.5272106, 31.17530398364597, 121.531541859215],
  ['Shenzhen', 22.543847, 113.912316, 22.540796131694766, 113.9171764808363],
  ['Beijing', 39.911954, 116.377817, 39.91334545536069, 116.38404722455657],
];

describe('WGS-84 to GCJ-02', () => {
  it.each(REFERENCE)('matches the published pair for %s', (_, wLat, wLon, gLat, gLon) => {
    const [lon, lat] = wgs84ToGcj02([wLon, wLat]);
    expect(lon).toBeCloseTo(gLon, 7);
    expect(lat).toBeCloseTo(gLat, 7);
  });

  it('shifts a point in Wuhan by a few hundred metres, not more', () => {
    const [lon, lat] = wgs84ToGcj02([114.3055, 30.5928]);
    const metresEast = (lon - 114.3055) * 111_320 * Math.cos((30.5928 * Math.PI) / 180);
    const metresNorth = (lat - 30.5928) * 110_574;
    const shift = Math.hypot(metresEast, metresNorth);
    expect(shift).toBeGreaterThan(100);
    expect(shift).toBeLessThan(1000);
  });

  it('leaves points outside China unchanged', () => {
    for (const point of [
      [-74.006, 40.7128], // New York
      [2.3522, 48.8566], // Paris
      [151.2093, -33.8688], // Sydney
      [139.9, 35.68], // Tokyo, east of the box
    ] as const) {
      expect(outOfChina(point[0], point[1])).toBe(true);
      expect(wgs84ToGcj02(point)).toEqual([point[0], point[1]]);
    }
    expect(outOfChina(114.3055, 30.5928)).toBe(false);
  });

  it('round-trips: the inverse of the shift of any point in China is that point (under a millimetre)', () => {
    // A deterministic sweep of the box (a linear congruential generator: no seed to carry between runs).
    let state = 20260312;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    for (let i = 0; i < 2000; i++) {
      const point: [number, number] = [73 + next() * 62, 18 + next() * 35];
      const shifted = wgs84ToGcj02(point);
      expect(outOfChina(...shifted)).toBe(false);
      const back = gcj02ToWgs84(shifted);
      expect(Math.abs(back[0] - point[0])).toBeLessThan(1e-8);
      expect(Math.abs(back[1] - point[1])).toBeLessThan(1e-8);
    }
  });

  it('is the identity for a WGS-84 base map', () => {
    expect(displayTransform('wgs84')([114.3, 30.6])).toEqual([114.3, 30.6]);
    expect(displayTransform(null)([114.3, 30.6])).toEqual([114.3, 30.6]);
    expect(displayTransform('gcj02')([114.3, 30.6])).toEqual(wgs84ToGcj02([114.3, 30.6]));
  });
});
