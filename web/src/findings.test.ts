import { describe, expect, it } from 'vitest';

import { ApiError } from './api';
import type { TripTrack } from './dispatcher/types';

import {
  bookedRoute,
  chinaIso,
  defaultPeriod,
  evidenceLines,
  evidencePoints,
  findingKey,
  findingsPath,
  findingTrack,
  searchOf,
  trackWindow,
  unitOf,
  valueText,
  viewOf,
  vocabularyOf,
  type EvidenceWords,
} from './findings';

// English words as the page would hand them in, with a few labels and codes of its catalog.
const SAY: EvidenceWords = {
  label: (key) => ({ start: 'Start', end: 'End', km: 'Distance', from: 'From', geofence_kind: 'Area kind' })[key] ?? null,
  code: (key, value) => (key === 'geofence_kind' ? `<${value}>` : ({ track: "The terminal's track" })[value] ?? null),
  unit: (unit, value) => `${value} ${unit}`,
  yes: 'Yes',
  no: 'No',
  points: (count) => `${count} positions`,
};

// An unscheduled drive's evidence as fleet/usage_audit/track_checks.py writes it.
const DRIVE = {
  vehicle_id: 6,
  plate: '鄂A00006',
  source: 'track',
  start: '2030-06-11T20:00:00+08:00',
  end: '2030-06-11T20:21:00+08:00',
  minutes: 21.0,
  from: { lat: 30.545, lon: 114.34 },
  to: { lat: 30.553, lon: 114.43 },
  km: 8.66,
  max_speed_kmh: 45.0,
  track: [
    { at: '2030-06-11T20:00:00+08:00', lat: 30.545, lon: 114.34, speed_kmh: 45 },
    { at: '2030-06-11T20:21:00+08:00', lat: 30.553, lon: 114.43, speed_kmh: 0 },
  ],
};

describe('the view in the address', () => {
  it('defaults to the last 7 days up to today in China time', () => {
    expect(defaultPeriod('2030-06-11')).toEqual({ since: '2030-06-05', until: '2030-06-11' });
    const view = viewOf(new URLSearchParams(''), '2030-06-11');
    expect(view).toEqual({ since: '2030-06-05', until: '2030-06-11', kinds: [], agency: null, page: 1, size: 20 });
  });

  it('reads the period, kinds, agency and page a link names', () => {
    const params = new URLSearchParams('since=2030-06-01&until=2030-06-30&kind=detour&kind=parking&agency=WH-GA&page=3&size=50');
    expect(viewOf(params, '2030-07-01')).toEqual({
      since: '2030-06-01',
      until: '2030-06-30',
      kinds: ['detour', 'parking'],
      agency: 'WH-GA',
      page: 3,
      size: 50,
    });
  });

  it('takes the default period for one written wrong or reversed, and drops what is no code', () => {
    const today = '2030-06-11';
    expect(viewOf(new URLSearchParams('since=2030-02-30&until=2030-03-02'), today).since).toBe('2030-06-05');
    expect(viewOf(new URLSearchParams('since=2030-06-10&until=2030-06-01'), today).until).toBe('2030-06-11');
    expect(viewOf(new URLSearchParams('since=2030-06-01'), today).since).toBe('2030-06-05');
    expect(viewOf(new URLSearchParams('since=2032-02-29&until=2032-03-01'), today).since).toBe('2032-02-29'); // a leap day
    const odd = viewOf(new URLSearchParams('kind=detour&kind=detour&kind=<script>&page=-2&size=7'), today);
    expect(odd.kinds).toEqual(['detour']);
    expect(odd.page).toBe(1);
    expect(odd.size).toBe(20);
    // a page past what the API's offset takes is its last one, not a refusal of an offset the user never wrote
    expect(viewOf(new URLSearchParams('page=1e12'), today).page).toBe(1_000_000);
    expect(viewOf(new URLSearchParams('page=Infinity'), today).page).toBe(1_000_000);
  });

  it('knows a finding again in a list read anew, whatever its place in it or its sentence', () => {
    const finding = { kind: 'detour', detail: '绕道', at: '2030-06-11T20:00:00+08:00', agency: 'WH-GA', plate: '鄂A1',
      vehicle_id: 6, trip_id: 9, evidence: {} };
    expect(findingKey({ ...finding, detail: 'A detour' })).toBe(findingKey(finding));
    expect(findingKey({ ...finding, trip_id: 10 })).not.toBe(findingKey(finding));
    expect(findingKey({ ...finding, kind: 'off_hours' })).not.toBe(findingKey(finding));
  });

  it('writes the period out always, and goes back to the first page on any change but paging', () => {
    const view = viewOf(new URLSearchParams('page=4'), '2030-06-11');
    expect(searchOf(view)).toBe('since=2030-06-05&until=2030-06-11');
    expect(searchOf(view, { kinds: ['speeding', 'idling'] })).toBe(
      'since=2030-06-05&until=2030-06-11&kind=speeding&kind=idling',
    );
    expect(searchOf(view, { page: 2 })).toBe('since=2030-06-05&until=2030-06-11&page=2');
    expect(searchOf(view, { page: 1, size: 50 })).toBe('since=2030-06-05&until=2030-06-11&size=50');
    // what it writes reads back as the same view
    const changed = searchOf(view, { agency: 'WH-CG', kinds: ['detour'], since: '2030-06-01' });
    expect(viewOf(new URLSearchParams(changed), '2030-06-11')).toEqual({
      since: '2030-06-01',
      until: '2030-06-11',
      kinds: ['detour'],
      agency: 'WH-CG',
      page: 1,
      size: 20,
    });
  });

  it("asks the API for the view's page", () => {
    const view = viewOf(new URLSearchParams('since=2030-06-01&until=2030-06-30&kind=detour&page=3&size=10'));
    expect(findingsPath(view)).toBe('/violations?since=2030-06-01&until=2030-06-30&kind=detour&limit=10&offset=20');
  });
});

describe("the track's window", () => {
  it('is the evidence’s own start and end with a margin either side, in China time', () => {
    expect(trackWindow({ at: DRIVE.start, vehicle_id: 6, evidence: DRIVE })).toEqual({
      start: '2030-06-11T19:45:00+08:00',
      end: '2030-06-11T20:36:00+08:00',
    });
  });

  it('reads a stay in an area by when it entered and left', () => {
    const evidence = { entered: '2030-06-11T20:15:36+08:00', left: '2030-06-11T20:40:00+08:00' };
    expect(trackWindow({ at: evidence.entered, vehicle_id: 6, evidence })).toEqual({
      start: '2030-06-11T20:00:36+08:00',
      end: '2030-06-11T20:55:00+08:00',
    });
  });

  it('reads a span given as a length from its start (speeding)', () => {
    const evidence = { start: '2030-06-11T01:59:00+08:00', seconds: 120 };
    expect(trackWindow({ at: evidence.start, vehicle_id: 6, evidence })).toEqual({
      start: '2030-06-11T01:44:00+08:00',
      end: '2030-06-11T02:16:00+08:00',
    });
  });

  it('is an hour either side of a finding timed by one moment, across midnight', () => {
    expect(trackWindow({ at: '2030-06-11T23:30:00+08:00', vehicle_id: 6, evidence: { source: 'booking' } })).toEqual({
      start: '2030-06-11T22:30:00+08:00',
      end: '2030-06-12T00:30:00+08:00',
    });
  });

  it('is at most the month the track API serves', () => {
    const evidence = { previous_completed_at: '2030-01-01T18:00:00+08:00', next_started_at: '2030-03-01T08:00:00+08:00' };
    const window = trackWindow({ at: evidence.next_started_at, vehicle_id: 6, evidence });
    expect(window?.start).toBe('2030-01-01T17:45:00+08:00');
    expect(window?.end).toBe('2030-02-01T17:45:00+08:00');
  });

  it('is none for a finding about no vehicle or no time', () => {
    expect(trackWindow({ at: null, vehicle_id: null, evidence: { source: 'registry' } })).toBeNull();
    expect(trackWindow({ at: null, vehicle_id: 3, evidence: { source: 'registry' } })).toBeNull();
  });

  it('writes instants in China time whatever the machine’s zone', () => {
    expect(chinaIso(Date.parse('2030-06-11T12:00:05Z'))).toBe('2030-06-11T20:00:05+08:00');
  });
});

describe('the evidence, readable', () => {
  it('labels each line and writes its value by its kind: times, units, places, codes, counts', () => {
    const lines = evidenceLines(DRIVE, SAY);
    const text = Object.fromEntries(lines.map((line) => [line.key, line.text]));
    const labels = Object.fromEntries(lines.map((line) => [line.key, line.label]));
    expect(Object.keys(text)).not.toContain('plate'); // the facts above say it
    expect(Object.keys(text)).not.toContain('vehicle_id');
    expect(labels.start).toBe('Start');
    expect(labels.max_speed_kmh).toBe('Max speed kmh'); // no label: the name in words
    expect(text.source).toBe("The terminal's track");
    expect(text.start).toBe('2030-06-11 20:00');
    expect(text.minutes).toBe('21 min');
    expect(text.km).toBe('8.66 km');
    expect(text.max_speed_kmh).toBe('45 kmh');
    expect(text.from).toBe('30.54500, 114.34000');
    expect(text.track).toBe('2 positions');
  });

  it('writes a fix with its time and speed, and the numbers beside it with their units', () => {
    const farthest = { at: '2030-06-11T09:40:00+08:00', lat: 30.6, lon: 114.4, speed_kmh: 38.5, off_route_m: 4200 };
    expect(valueText('farthest', farthest, SAY)).toBe('2030-06-11 09:40 · 30.60000, 114.40000 · 38.5 kmh · Off route m 4200 m');
  });

  it('writes booked places by their address, routes as arrows, and codes of a vocabulary as the page says', () => {
    expect(valueText('dropoff', { lat: 30.55, lon: 114.43, address: '东湖' }, SAY)).toBe('东湖 · 30.55000, 114.43000');
    expect(valueText('route', [{ lat: 1, lon: 2 }, { lat: 3, lon: 4 }], SAY)).toBe('1.00000, 2.00000 → 3.00000, 4.00000');
    expect(valueText('geofence_kind', 'scenic_area', SAY)).toBe('<scenic_area>');
    expect(valueText('reasons', ['strayed', 'ended_away'], SAY)).toBe('strayed, ended_away');
    expect(valueText('silent_after', true, SAY)).toBe('Yes');
    expect(valueText('stopped_at', null, SAY)).toBe('—');
    expect(valueText('day_off', { start: 'weekend', end: null }, SAY)).toBe('Start: weekend; End: —');
    // a code under a plate is read as the mapping's own (over_quota's statuses: vehicle statuses)
    expect(valueText('geofence_kind', { 鄂A1: 'golf_course' }, SAY)).toBe('鄂A1: <golf_course>');
  });

  it("labels a status from the vehicle's vocabulary where the rule speaks of the vehicle, else the trip's", () => {
    expect(vocabularyOf('unmarked', 'status')).toBe('vehicle_status');
    expect(vocabularyOf('unusable_vehicle', 'status')).toBe('vehicle_status');
    expect(vocabularyOf('over_quota', 'statuses')).toBe('vehicle_status');
    expect(vocabularyOf('off_hours', 'status')).toBe('trip_status');
    expect(vocabularyOf('geofence', 'geofence_kind')).toBe('geofence_kind');
    expect(vocabularyOf('detour', 'reasons')).toBeUndefined();
  });

  it('reads units from the names the rules give', () => {
    expect(unitOf('corridor_m')).toBe('m');
    expect(unitOf('seconds_inside')).toBe('s');
    expect(unitOf('dwell_threshold_seconds')).toBe('s');
    expect(unitOf('limit_kmh')).toBe('kmh');
    expect(unitOf('overdriven_ratio')).toBe('times');
    expect(unitOf('alarm_bit')).toBeNull();
  });
});

describe('the evidence on the map', () => {
  it('is every place the evidence names, in its order', () => {
    expect(evidencePoints(DRIVE).map((point) => [point.key, point.lon, point.lat])).toEqual([
      ['from', 114.34, 30.545],
      ['to', 114.43, 30.553],
    ]);
    const stay = { entered: '2030-06-11T20:15:36+08:00', stopped_at: { at: '2030-06-11T20:21:00+08:00', lat: 30.553, lon: 114.43, speed_kmh: 0 } };
    expect(evidencePoints(stay)).toEqual([{ key: 'stopped_at', lon: 114.43, lat: 30.553, at: '2030-06-11T20:21:00+08:00' }]);
    expect(evidencePoints({ stopped_at: null, source: 'track' })).toEqual([]);
  });

  it("gives a detour's booked route as its stops and as a line", () => {
    const detour = { route: [{ lat: 30.59, lon: 114.3 }, { lat: 30.6, lon: 114.31 }, { lat: 30.64, lon: 114.33 }] };
    expect(evidencePoints(detour).map((point) => point.key)).toEqual(['route_home', 'route_pickup', 'route_dropoff']);
    expect(bookedRoute(detour)).toEqual([
      [114.3, 30.59],
      [114.31, 30.6],
      [114.33, 30.64],
    ]);
    expect(evidencePoints({ route: [{ lat: 30.6, lon: 114.31 }, { lat: 30.64, lon: 114.33 }] }).map((p) => p.key)).toEqual([
      'route_pickup',
      'route_dropoff',
    ]);
    expect(bookedRoute(DRIVE)).toBeNull();
  });
});

describe('the track a finding draws', () => {
  const window = { start: '2030-06-11T19:55:00+08:00', end: '2030-06-11T20:40:00+08:00' };
  const track: TripTrack = { type: 'FeatureCollection', features: [] };
  /** A fake API: what each path answers (a track, or an error thrown), and the paths asked, in order. */
  function api(answers: Record<string, TripTrack | Error>) {
    const asked: string[] = [];
    const get = <T,>(path: string): Promise<T> => {
      asked.push(path);
      const answer = answers[path.split('?')[0] ?? path];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as T);
    };
    return { asked, get };
  }
  const unknown = new ApiError(404, 'NotFound', 'unknown vehicle id 7', 'vehicle_id');

  it("is the vehicle's over the window when the caller may read it", async () => {
    const { asked, get } = api({ '/vehicles/7/track': track });
    await expect(findingTrack(7, 12, window, undefined, get)).resolves.toEqual({ track, source: 'vehicle' });
    expect(asked).toEqual([`/vehicles/7/track?start=${encodeURIComponent(window.start)}&end=${encodeURIComponent(window.end)}`]);
  });

  it("is the trip's when the vehicle is outside the caller's scope", async () => {
    const { asked, get } = api({ '/vehicles/7/track': unknown, '/trips/12/track': track });
    await expect(findingTrack(7, 12, window, undefined, get)).resolves.toEqual({ track, source: 'trip' });
    expect(asked.map((path) => path.split('?')[0])).toEqual(['/vehicles/7/track', '/trips/12/track']);
  });

  it("is not the trip's when another car serves the trip now", async () => {
    const other = { type: 'Feature', geometry: null, properties: { role: 'track', vehicle_id: 8 } } as unknown as TripTrack['features'][number];
    const handedOn: TripTrack = { type: 'FeatureCollection', features: [other] };
    const { get } = api({ '/vehicles/7/track': unknown, '/trips/12/track': handedOn });
    await expect(findingTrack(7, 12, window, undefined, get)).rejects.toBe(unknown);
  });

  it('says why where there is no trip to fall back on, or the failure is not the scope', async () => {
    await expect(findingTrack(7, null, window, undefined, api({ '/vehicles/7/track': unknown }).get)).rejects.toBe(unknown);
    const busy = new ApiError(503, 'Busy', 'the database is serving 15 requests', null, 1);
    const { asked, get } = api({ '/vehicles/7/track': busy, '/trips/12/track': track });
    await expect(findingTrack(7, 12, window, undefined, get)).rejects.toBe(busy);
    expect(asked).toHaveLength(1);
  });
});
