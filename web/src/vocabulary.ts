import type { Language } from './i18n';

/** `GET /api/v1/vocabulary`: each of the registry's enums (fleet/enums.py), its values in order with their labels. */
export interface Term {
  value: string;
  zh: string;
}
export type Vocabularies = Record<string, Term[]>;

/** The enums the console names (the API serves them all). */
export type VocabularyName =
  | 'trip_status'
  | 'priority'
  | 'category'
  | 'vehicle_status'
  | 'role'
  | 'powertrain'
  | 'marking_status'
  | 'vehicle_source'
  | 'finding_kind'
  | 'geofence_kind';

/**
 * English labels of the values that are codes, not words (`bev` is no English word: "Bev" would be its value
 * capitalised). The Chinese labels are the registry's own, from the API.
 */
export const ENGLISH_LABELS: Partial<Record<VocabularyName, Record<string, string>>> = {
  powertrain: {
    ice: 'Petrol/diesel',
    hev: 'Hybrid',
    phev: 'Plug-in hybrid',
    bev: 'Battery electric',
    fcev: 'Fuel cell',
  },
  // The usage audit's rules (fleet/usage_audit/checks.py FindingKind): the Chinese are the names the provincial
  // platforms give them; the English say what each catches, where the code alone would not.
  finding_kind: {
    off_hours: 'Off-hours use',
    odometer_gap: 'Unbooked km (odometer gap)',
    overdriven: 'Drove more than planned',
    geofence: 'Drop-off in a prohibited area',
    unusable_vehicle: 'Sealed, repaired or disposed vehicle used',
    over_quota: 'Over quota',
    unmarked: 'Unmarked vehicle',
    unscheduled_drive: 'Unscheduled drive',
    detour: 'Detour',
    geofence_entry: 'Prohibited area entered',
    parking: 'Parked away from its place',
    terminal_offline: 'Terminal offline or removed',
    speeding: 'Speeding',
    idling: 'Long idling',
  },
};

/** `in_progress` -> `In progress`: the English label of a value that is English words already. */
export function humanize(value: string): string {
  const words = value.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The label of `value` in `vocabulary`: in Chinese the registry's own (`.zh`), in English its `ENGLISH_LABELS` or
 * the value in words. A value
 * the vocabulary does not hold (or before it has loaded) shows as itself, never as nothing.
 */
export function label(
  vocabularies: Vocabularies | undefined,
  vocabulary: VocabularyName,
  value: string,
  language: Language,
): string {
  if (language === 'en') return ENGLISH_LABELS[vocabulary]?.[value] ?? humanize(value);
  const term = vocabularies?.[vocabulary]?.find((t) => t.value === value);
  return term?.zh ?? value;
}

/** Colours of the trip statuses (Ant Design tag presets), by meaning. */
export const STATUS_COLOURS: Record<string, string> = {
  requested: 'gold',
  approved: 'blue',
  assigned: 'geekblue',
  in_progress: 'processing',
  completed: 'success',
  rejected: 'error',
  cancelled: 'default',
  rented: 'purple',
};

/** Colours of the vehicle statuses (Ant Design tag presets): in use, in the workshop, sealed, gone. */
export const VEHICLE_STATUS_COLOURS: Record<string, string> = {
  active: 'success',
  maintenance: 'warning',
  sealed: 'purple',
  disposed: 'default',
};
