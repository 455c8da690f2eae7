/** The booking form's model (pages/BookPage.tsx): its bounds, items and the body `POST /trips` takes from it. */
import type { Dayjs } from 'dayjs';

import type { Place } from './api';
import { chinaInstant } from './time';

/** The booking's bounds, as fleet/schemas.py TripIn has them. */
export const TRIP_BOUNDS = {
  purpose: { min: 2, max: 500 },
  priorityReason: { min: 2, max: 500 },
  passengers: { min: 1, max: 60 },
  dwell: { min: 0, max: 24 * 60 },
  categories: { max: 5 },
  address: { max: 200 },
} as const;

export interface BookFields {
  purpose: string;
  priority: string;
  /** Why it is an emergency or law enforcement (应急事由): asked for those, required for an emergency. */
  priority_reason?: string;
  categories: string[];
  passengers: number;
  pickup: Place | null;
  dropoff: Place | null;
  day: Dayjs | null;
  earliest: Dayjs | null;
  latest: Dayjs | null;
  dwell_min: number;
}

/** The form's items, and the body fields (TripIn) that answer to another name here. */
export const BOOK_ITEMS = ['purpose', 'priority', 'priority_reason', 'categories', 'passengers', 'pickup', 'dropoff', 'day', 'earliest', 'latest', 'dwell_min'] as const;
export const BOOK_ALIASES = { earliest_pickup: 'earliest', latest_pickup: 'latest' };

/** The priorities whose reason the form asks for, and the one that may not go without it. */
export const REASONED_PRIORITIES: readonly string[] = ['emergency', 'law_enforcement'];
export const REASON_REQUIRED = 'emergency';

/** `POST /trips`'s body from the form: the window is the picked day and clock times, read as China time. */
export function tripBody(fields: BookFields): Record<string, unknown> {
  if (!fields.day || !fields.earliest || !fields.latest || !fields.pickup || !fields.dropoff) {
    throw new Error('the form is incomplete');
  }
  const day = fields.day.format('YYYY-MM-DD');
  return {
    purpose: fields.purpose.trim(),
    priority: fields.priority,
    ...(REASONED_PRIORITIES.includes(fields.priority) && fields.priority_reason?.trim()
      ? { priority_reason: fields.priority_reason.trim() }
      : {}),
    passengers: fields.passengers,
    ...(fields.categories.length > 0 ? { categories: fields.categories } : {}),
    pickup: fields.pickup,
    dropoff: fields.dropoff,
    earliest_pickup: chinaInstant(day, fields.earliest.format('HH:mm')),
    latest_pickup: chinaInstant(day, fields.latest.format('HH:mm')),
    dwell_min: fields.dwell_min,
  };
}
