/** Deciding several bookings at once (pages/ApprovalsPage.tsx). */

import { asError } from './errors';

/** A reason to reject, as api/schemas.py RejectIn bounds it. */
export const REJECT_REASON = { min: 2, max: 500 } as const;

export interface Outcome {
  id: number;
  ok: boolean;
  /** Why it failed, as thrown: worded where it is shown, in the language shown then (errors.ts). */
  error: Error | null;
}

/**
 * One decision over several trips, one call each (in turn: each is its own transaction on the server). Each trip's
 * outcome is kept: some may fail (decided meanwhile by someone else, say) while the others pass.
 */
export async function decideAll(ids: number[], decide: (id: number) => Promise<unknown>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const id of ids) {
    try {
      await decide(id);
      outcomes.push({ id, ok: true, error: null });
    } catch (error) {
      outcomes.push({ id, ok: false, error: asError(error) });
    }
  }
  return outcomes;
}
