/** What the dispatcher's forms send, pure: China-time wall clocks from the pickers, and the emergency's booking. */
import dayjs, { type Dayjs } from 'dayjs';

import { chinaInstant } from './board';
import type { TripIn } from './types';

export const WALL_CLOCK = 'YYYY-MM-DD HH:mm';

/**
 * A picker's value is a wall-clock time in China: the dayjs value carries the browser's zone, which is ignored — its
 * digits are read as they are and sent with +08:00.
 */
export function wallClock(day: string, clock: string): Dayjs {
  return dayjs(`${day}T${clock}`);
}

export function wallClockInstant(value: Dayjs): string {
  const [day, clock] = value.format(WALL_CLOCK).split(' ') as [string, string];
  return chinaInstant(day, clock);
}

/** A point's bounds: China's extent, as fleet/schemas.py CHINA_LAT and CHINA_LON have it (0,0 is the typo it catches). */
export const POINT_BOUNDS = {
  lat: { min: 3.5, max: 53.6 },
  lon: { min: 73.4, max: 135.1 },
} as const;

/** The dispatch run's seed, as api/schemas.py has it. */
export const SEED_BOUNDS = { min: 0, max: 2 ** 31 - 1 } as const;

/** The urgent emergency form's fields. */
export interface UrgentValues {
  agency: string;
  purpose: string;
  passengers: number;
  pickup_address: string;
  pickup_lat: number;
  pickup_lon: number;
  dropoff_address: string;
  dropoff_lat: number;
  dropoff_lon: number;
  earliest: Dayjs;
  latest: Dayjs;
  dwell_min: number;
  categories?: string[];
  approval_basis: string;
}

/**
 * The urgent form's items, and the body fields (TripIn) that answer to another name there: a refusal naming one is
 * shown under it. The emergency's reason is sent both as the purpose and as the priority's reason.
 */
export const URGENT_ITEMS = [
  'agency', 'passengers', 'dwell_min', 'purpose', 'approval_basis', 'pickup_address', 'pickup_lat', 'pickup_lon',
  'dropoff_address', 'dropoff_lat', 'dropoff_lon', 'earliest', 'latest', 'categories',
] as const;
export const URGENT_ALIASES = {
  priority_reason: 'purpose',
  pickup: 'pickup_address',
  'pickup.address': 'pickup_address',
  'pickup.lat': 'pickup_lat',
  'pickup.lon': 'pickup_lon',
  dropoff: 'dropoff_address',
  'dropoff.address': 'dropoff_address',
  'dropoff.lat': 'dropoff_lat',
  'dropoff.lon': 'dropoff_lon',
  earliest_pickup: 'earliest',
  latest_pickup: 'latest',
};

/** The booking the form makes (fleet/schemas.py TripIn): an emergency, for the agency named, at China wall clocks.
 * Its purpose is what the form asks as the emergency's reason (应急事由), and the agency's approval given outside
 * the platform is its approval basis: so approved, the server places it at once. */
export function tripOf(values: UrgentValues): TripIn {
  const purpose = values.purpose.trim();
  return {
    agency: values.agency,
    purpose,
    priority: 'emergency',
    priority_reason: purpose,
    approval_basis: values.approval_basis.trim(),
    passengers: values.passengers,
    pickup: { address: values.pickup_address.trim(), lat: values.pickup_lat, lon: values.pickup_lon },
    dropoff: { address: values.dropoff_address.trim(), lat: values.dropoff_lat, lon: values.dropoff_lon },
    earliest_pickup: wallClockInstant(values.earliest),
    latest_pickup: wallClockInstant(values.latest),
    dwell_min: values.dwell_min,
    ...(values.categories && values.categories.length > 0 ? { categories: values.categories } : {}),
  };
}
