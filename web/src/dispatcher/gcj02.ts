/**
 * WGS-84 → GCJ-02 ("Mars coordinates", the datum that maps published in China are drawn in), for display only: the
 * API's coordinates stay WGS-84, and a base map in GCJ-02 gets every point shifted before it is drawn.
 *
 * This is the well-known public algorithm (Krasovsky 1940 ellipsoid, the offset polynomials below), as implemented
 * in the open libraries googollee/eviltransform (MIT; transform.js, `wgs2gcj`) and wandergis/coordtransform
 * (`wgs84togcj02`); the reference pairs in gcj02.test.ts are eviltransform's own (go/transform_test.go). Points
 * outside China's bounding box are returned unchanged, as those libraries do.
 */

export type LngLat = readonly [lon: number, lat: number];

const A = 6378245.0; // Krasovsky 1940 semi-major axis (m)
const EE = 0.00669342162296594323; // its first eccentricity squared

/** Whether a point lies outside the rough box of China where the shift applies (the libraries' own box). */
export function outOfChina(lon: number, lat: number): boolean {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function offsetLat(x: number, y: number): number {
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320.0 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return ret;
}

function offsetLon(x: number, y: number): number {
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return ret;
}

/** GCJ-02 minus WGS-84 at a WGS-84 point, in degrees: [dLon, dLat]. */
function delta(lon: number, lat: number): [number, number] {
  const radLat = (lat / 180.0) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  const dLat = (offsetLat(lon - 105.0, lat - 35.0) * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  const dLon = (offsetLon(lon - 105.0, lat - 35.0) * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [dLon, dLat];
}

/** A WGS-84 point [lon, lat] in GCJ-02; unchanged outside China. */
export function wgs84ToGcj02([lon, lat]: LngLat): [number, number] {
  if (outOfChina(lon, lat)) return [lon, lat];
  const [dLon, dLat] = delta(lon, lat);
  return [lon + dLon, lat + dLat];
}

/**
 * The inverse, by fixed-point iteration (the shift varies slowly, so a few steps reach well under a millimetre).
 * The console needs it only to check the forward function; it never turns a displayed point back into data.
 */
export function gcj02ToWgs84([lon, lat]: LngLat): [number, number] {
  if (outOfChina(lon, lat)) return [lon, lat];
  let wLon = lon;
  let wLat = lat;
  for (let i = 0; i < 30; i++) {
    const [gLon, gLat] = wgs84ToGcj02([wLon, wLat]);
    const eLon = gLon - lon;
    const eLat = gLat - lat;
    wLon -= eLon;
    wLat -= eLat;
    if (Math.abs(eLon) < 1e-10 && Math.abs(eLat) < 1e-10) break;
  }
  return [wLon, wLat];
}

/** The display transform for a base map's datum: GCJ-02 shifts, WGS-84 is the identity. */
export function displayTransform(crs: string | null | undefined): (point: LngLat) => [number, number] {
  return crs === 'gcj02' ? wgs84ToGcj02 : ([lon, lat]) => [lon, lat];
}
