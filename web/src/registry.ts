/**
 * The admin's registry page, pure: the view the address names (tab, filters, page), the API's query for it, the
 * establishment quotas against the vehicles held, and the status moves (封存, 启封, 送修, 修竣) a vehicle allows.
 * No React, no i18next: the page hands in its words.
 */
import { queryString, type Vehicle } from './api';
import { DEFAULT_SIZE, isCode, pageOf, sizeOf } from './paging';

/** `GET /vehicles/{id}`'s body in full (api/schemas.py VehicleOut): the list's fields and the record's. */
export interface RegistryVehicle extends Vehicle {
  vin: string;
  price_cny: string;
  range_km: number | null;
  acquired_on: string; // a date
  odometer_km: number;
  marking: string;
  marking_exemption?: string | null;
  terminal_id?: string | null;
  colour?: string | null;
  insurance_expires_on?: string | null;
  inspected_on?: string | null;
  serviced_on?: string | null;
  serviced_km?: number | null;
  source: string; // retained | platform | rental
  rental_provider?: string | null;
}

/**
 * `GET /quotas`' item (api/schemas.py QuotaOut): every quota, and every agency and category holding vehicles without
 * one (`limit` 0), with the vehicles it holds there as the server counts them (fleet/queries.py held_count).
 */
export interface Quota {
  agency: string;
  category: string;
  limit: number;
  held: number;
}

/** `GET /reminders`' item (api/schemas.py ReminderOut); `detail` comes in the request's language. */
export interface Reminder {
  kind: string; // insurance | inspection | maintenance | renewal | licence (fleet/reminders.py ReminderKind)
  due_on: string;
  days_left: number; // negative: overdue
  subject: 'vehicle' | 'driver';
  subject_id: number;
  label: string; // the plate, or the driver's name
  agency: string | null;
  detail: string;
  due_km: number | null;
}

export interface ReminderList {
  today: string;
  until: string;
  items: Reminder[];
}

export const REMINDER_KINDS = ['insurance', 'inspection', 'maintenance', 'renewal', 'licence'] as const;
/** How far ahead the page looks for what falls due (the API's own default). */
export const REMINDER_DAYS = 30;

// --- the view in the address ---------------------------------------------------------------------------------------

export const TABS = ['vehicles', 'quotas', 'reminders'] as const;
export type Tab = (typeof TABS)[number];
/** The API's longest `q` (api/routes/registry.py list_vehicles). */
export const MAX_SEARCH = 100;

/** `GET /vehicles`' own filters, and nothing more: the route refuses any other query parameter. */
export interface RegistryView {
  tab: Tab;
  agency: string | null;
  category: string | null;
  status: string | null;
  powertrain: string | null;
  q: string; // text in the plate or the model
  page: number; // from 1
  size: number;
}

function code(value: string | null): string | null {
  return isCode(value) ? value : null;
}

/**
 * The view an address asks for (`?agency=WH-GA&category=general&status=sealed&powertrain=bev&q=鄂A&page=2`). What is no code is
 * dropped; a code the API does not know is left for it to refuse, with its sentence, under the filter it names.
 */
export function viewOf(params: URLSearchParams): RegistryView {
  const tab = params.get('tab');
  return {
    tab: (TABS as readonly string[]).includes(tab ?? '') ? (tab as Tab) : 'vehicles',
    agency: params.get('agency')?.trim() || null,
    category: code(params.get('category')),
    status: code(params.get('status')),
    powertrain: code(params.get('powertrain')),
    q: (params.get('q') ?? '').trim().slice(0, MAX_SEARCH),
    page: pageOf(params),
    size: sizeOf(params),
  };
}

/**
 * The address's query for `changes` to the view, with only what differs from the default. Any change to the
 * filters goes back to the first page; switching tabs keeps the list's page.
 */
export function searchOf(view: RegistryView, changes: Partial<RegistryView> = {}): string {
  const keeps = 'page' in changes || 'size' in changes || 'tab' in changes;
  const next = { ...view, ...changes, ...(keeps ? {} : { page: 1 }) };
  return queryString({
    tab: next.tab !== 'vehicles' ? next.tab : undefined,
    agency: next.agency,
    category: next.category,
    status: next.status,
    powertrain: next.powertrain,
    q: next.q.trim(),
    page: next.page > 1 ? next.page : undefined,
    size: next.size !== DEFAULT_SIZE ? next.size : undefined,
  }).replace(/^\?/, '');
}

/** `GET /vehicles`' path for the view: its page of `size` from `(page - 1) * size`. */
export function vehiclesPath(view: RegistryView): string {
  return `/vehicles${queryString({
    agency: view.agency,
    category: view.category,
    status: view.status,
    powertrain: view.powertrain,
    q: view.q.trim(),
    limit: view.size,
    offset: (view.page - 1) * view.size,
  })}`;
}

// --- the vehicle -----------------------------------------------------------------------------------------------------

/**
 * The powertrains that count as new-energy (新能源汽车) by the national default (fleet/policy.py
 * `new_energy_powertrains`: BEV, PHEV incl. range-extended, FCEV; HEV only where a jurisdiction says so, which the
 * console is not told).
 */
export const NEW_ENERGY = new Set(['bev', 'phev', 'fcev']);

export function isNewEnergy(powertrain: string): boolean {
  return NEW_ENERGY.has(powertrain);
}

// --- quotas against the vehicles held --------------------------------------------------------------------------------

export interface QuotaRow extends Quota {
  key: string;
  over: number; // held beyond the limit; 0 within it
}

/** The quota table's rows: by agency, then category in `categories`' order (the vocabulary's), each with what it
 * holds beyond its limit. */
export function quotaRows(quotas: readonly Quota[], categories: readonly string[] = []): QuotaRow[] {
  const order = (category: string) => {
    const at = categories.indexOf(category);
    return at < 0 ? categories.length : at;
  };
  return quotas
    .map((quota) => ({ ...quota, key: `${quota.agency}|${quota.category}`, over: Math.max(0, quota.held - quota.limit) }))
    .sort((a, b) => a.agency.localeCompare(b.agency) || order(a.category) - order(b.category) || a.category.localeCompare(b.category));
}

// --- status moves ------------------------------------------------------------------------------------------------------

export const MOVES = ['seal', 'unseal', 'maintenance_in', 'maintenance_out'] as const;
export type Move = (typeof MOVES)[number];

/** Each move: the status it needs, the one it leaves, its route, and whether the vehicle leaves use (its trips not
 * yet started go back to the dispatcher's queue). As fleet/vehicles.py `_MOVES` has them. */
export const MOVE_RULES: Record<Move, { from: string; to: string; path: string; leavesUse: boolean; odometer: boolean }> = {
  seal: { from: 'active', to: 'sealed', path: 'seal', leavesUse: true, odometer: false },
  unseal: { from: 'sealed', to: 'active', path: 'unseal', leavesUse: false, odometer: false },
  maintenance_in: { from: 'active', to: 'maintenance', path: 'maintenance-in', leavesUse: true, odometer: true },
  maintenance_out: { from: 'maintenance', to: 'active', path: 'maintenance-out', leavesUse: false, odometer: true },
};

/** The moves a vehicle in `status` allows: none for one disposed of. */
export function movesFor(status: string): Move[] {
  return MOVES.filter((move) => MOVE_RULES[move].from === status);
}

/** A move's reason, as api/schemas.py ReasonIn and StatusMoveIn bound it. */
export const REASON = { min: 2, max: 500 } as const;
/** An odometer reading, as StatusMoveIn bounds it: whole km. */
export const ODOMETER = { min: 0, max: 3_000_000 } as const;

export interface MoveValues {
  reason: string;
  odometer_km?: number | null;
}

/** The call a move makes: its path and body (the reason trimmed; a reading only where the move takes one). */
export function moveRequest(vehicleId: number, move: Move, values: MoveValues): { path: string; body: Record<string, unknown> } {
  const rule = MOVE_RULES[move];
  const body: Record<string, unknown> = { reason: values.reason.trim() };
  if (rule.odometer && typeof values.odometer_km === 'number') body.odometer_km = values.odometer_km;
  return { path: `/vehicles/${vehicleId}/${rule.path}`, body };
}

/** The move form's items: a refusal naming one is shown under it (the vehicle and its status are shown, not typed). */
export const MOVE_ITEMS = ['vehicle_id', 'status', 'reason', 'odometer_km'] as const;
