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
