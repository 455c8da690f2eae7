/** A dispatch run as the desk reads it, pure: the progress while it solves, and its result per priority. */
import { PRIORITIES, priorityRank } from './board';
import type { DispatchSummary } from './types';

/** The time limit the form takes: whole seconds from 5 to 60, refused otherwise (never clamped). */
export const MIN_TIME_LIMIT = 5;
export const MAX_TIME_LIMIT = 60; // api/schemas.py MAX_TIME_LIMIT

/**
 * How far a run is against its time limit, in [0, 1): the engine searches for `limitSeconds` and then writes its
 * plan, so the bar stops short of full until the answer comes.
 */
export function progressFraction(elapsedMs: number, limitSeconds: number): number {
  if (!(limitSeconds > 0) || !(elapsedMs > 0)) return 0;
  return Math.min(0.99, elapsedMs / (limitSeconds * 1000));
}

export interface PriorityRow {
  priority: string;
  served: number;
  offered: number;
  /** What is servable at most (the engine's bound), when it has one. */
  bound: number | null;
  /** Trips the plan may still be short of: bound − served. */
  gap: number | null;
}

/** Served against offered per priority, most urgent first; priorities the run did not meet at all are left out. */
export function priorityRows(summary: Pick<DispatchSummary, 'served' | 'offered' | 'bounds' | 'gap'>): PriorityRow[] {
  const names = new Set([...Object.keys(summary.offered ?? {}), ...Object.keys(summary.served ?? {})]);
  for (const p of PRIORITIES) names.add(p);
  const upper = summary.bounds?.served_upper ?? {};
  return [...names]
    .sort((a, b) => priorityRank(a) - priorityRank(b) || a.localeCompare(b))
    .map((priority) => {
      const served = summary.served?.[priority] ?? 0;
      const bound = upper[priority] ?? null;
      const gap = summary.gap?.[priority] ?? (bound === null ? null : bound - served);
      return { priority, served, offered: summary.offered?.[priority] ?? 0, bound, gap };
    })
    .filter((row) => row.offered > 0 || row.served > 0 || (row.bound ?? 0) > 0);
}

/** Sums of the rows: trips served of those offered. */
export function servedOfOffered(summary: Pick<DispatchSummary, 'served' | 'offered'>): {
  served: number;
  offered: number;
} {
  const sum = (values: Record<string, number> | undefined) =>
    Object.values(values ?? {}).reduce((a, b) => a + b, 0);
  return { served: sum(summary.served), offered: sum(summary.offered) };
}

/** `1234.5678` km as the desk reads it: one decimal. */
export function km(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? '—' : value.toFixed(1);
}

/** A relative gap (0.1234) as a percentage: `12.3 %`. */
export function percent(value: number | null | undefined): string {
  return value == null || !Number.isFinite(value) ? '—' : `${(value * 100).toFixed(1)} %`;
}
