import { Descriptions, Drawer, Spin, Tag, Typography } from 'antd';
import { lazy, Suspense, useCallback, useMemo } from 'react';
import { useTranslation } from 'react-i18next';

import { useConsoleConfig, useVocabulary } from '../api';
import {
  evidenceLines,
  evidencePoints,
  trackWindow,
  vocabularyOf,
  type EvidenceWords,
  type Finding,
} from '../findings';
import type { Language } from '../i18n';
import { formatChinaDateTime } from '../time';
import { humanize, label, type Vocabularies } from '../vocabulary';

// MapLibre is loaded when a finding is first opened, not with the list.
const FindingMap = lazy(() => import('./FindingMap'));

/** Colours of the finding kinds (Ant Design tag presets): the track's, the booking's and the registry's apart. */
export const KIND_COLOURS: Record<string, string> = {
  unscheduled_drive: 'red',
  geofence_entry: 'red',
  geofence: 'red',
  detour: 'volcano',
  parking: 'volcano',
  off_hours: 'orange',
  odometer_gap: 'orange',
  overdriven: 'orange',
  unusable_vehicle: 'magenta',
  terminal_offline: 'purple',
  speeding: 'gold',
  idling: 'gold',
  over_quota: 'blue',
  unmarked: 'blue',
};

// One label column for the facts and the evidence, wide enough that a label reads on one line.
const LABEL_STYLE = { width: 168 };

/** The page's words for a finding's evidence, in the language shown now. */
function useEvidenceWords(
  language: Language,
  vocabularies: Vocabularies | undefined,
  kind: string | null,
): EvidenceWords {
  const { t } = useTranslation();
  return useMemo(() => {
    const labels: Record<string, string> = t('findings.labels', { returnObjects: true });
    const codes: Record<string, string> = t('findings.codes', { returnObjects: true });
    return {
      label: (key) => labels[key] ?? null,
      code: (key, value) => {
        const vocabulary = vocabularyOf(kind, key);
        if (vocabulary) return label(vocabularies, vocabulary, value, language);
        // A holiday's name comes with the word the rule put before it: `holiday 春节`.
        const holiday = /^holiday (.+)$/.exec(value);
        if (holiday) return t('findings.holiday', { name: holiday[1] });
        return codes[value] ?? null;
      },
      unit: (unit, value) => t(`findings.units.${unit}`, { value }),
      yes: t('findings.yes'),
      no: t('findings.no'),
      points: (count) => t('findings.points', { count }),
    };
  }, [t, language, vocabularies, kind]);
}

export interface FindingDrawerProps {
  finding: Finding | null;
  language: Language;
  /** The agency's name beside its code, where known. */
  agencyName: (code: string) => string;
  compact: boolean;
  onClose: () => void;
}

/**
 * A finding opened: its facts, its evidence line by line (times in China time, distances and durations with their
 * units, places as addresses or coordinates, codes in words), and a map of the vehicle's track over the finding's
 * window with the places the evidence names.
 */
export default function FindingDrawer({ finding, language, agencyName, compact, onClose }: FindingDrawerProps) {
  const { t } = useTranslation();
  const vocabularies = useVocabulary().data;
  const config = useConsoleConfig();
  const say = useEvidenceWords(language, vocabularies, finding?.kind ?? null);
  const kind = finding ? label(vocabularies, 'finding_kind', finding.kind, language) : '';
  const lines = useMemo(() => (finding ? evidenceLines(finding.evidence, say) : []), [finding, say]);
  const points = useMemo(() => (finding ? evidencePoints(finding.evidence) : []), [finding]);
  const window = useMemo(() => (finding ? trackWindow(finding) : null), [finding]);
  const pointLabel = useCallback((key: string) => say.label(key) ?? humanize(key), [say]);

  return (
    <Drawer
      open={finding !== null}
      onClose={onClose}
      size={compact ? '100%' : 760}
      title={finding ? t('findings.drawerTitle', { kind, plate: finding.plate ?? finding.agency ?? '' }) : ''}
      data-testid="finding-drawer"
      destroyOnHidden
    >
      {finding && (
        <>
          <Descriptions
            column={1}
            size="small"
            bordered
            title={t('findings.facts')}
            styles={{ label: LABEL_STYLE }}
            data-testid="finding-facts"
          >
            <Descriptions.Item label={t('findings.kind')}>
              <Tag color={KIND_COLOURS[finding.kind] ?? 'default'} data-testid="finding-kind">
                {kind}
              </Tag>
            </Descriptions.Item>
            <Descriptions.Item label={t('findings.at')}>
              <span data-testid="finding-at">{finding.at ? formatChinaDateTime(finding.at) : t('findings.noTime')}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t('findings.plate')}>
              <span data-testid="finding-plate">{finding.plate ?? '—'}</span>
            </Descriptions.Item>
            <Descriptions.Item label={t('findings.agency')}>
              {finding.agency ? agencyName(finding.agency) : '—'}
            </Descriptions.Item>
            <Descriptions.Item label={t('findings.trip')}>
              {finding.trip_id !== null ? `#${finding.trip_id}` : '—'}
            </Descriptions.Item>
            <Descriptions.Item label={t('findings.detail')}>
              <span data-testid="finding-detail">{finding.detail}</span>
            </Descriptions.Item>
          </Descriptions>
          <Descriptions
            column={1}
            size="small"
            bordered
            title={t('findings.evidence')}
            styles={{ label: LABEL_STYLE }}
            style={{ marginTop: 24 }}
            data-testid="finding-evidence"
            items={lines.map((line) => ({
              key: line.key,
              label: line.label,
              children: <span data-evidence={line.key}>{line.text}</span>,
            }))}
          />
          <Typography.Title level={5} style={{ marginTop: 24 }}>
            {t('findings.map')}
          </Typography.Title>
          {window === null || finding.vehicle_id === null ? (
            <Typography.Paragraph type="secondary" data-testid="finding-no-map">
              {t('findings.noMap')}
            </Typography.Paragraph>
          ) : config.isPending ? (
            <Spin />
          ) : (
            <Suspense fallback={<Spin />}>
              <FindingMap
                config={config.data?.map ?? null}
                vehicleId={finding.vehicle_id}
                tripId={finding.trip_id}
                window={window}
                evidence={finding.evidence}
                points={points}
                pointLabel={pointLabel}
              />
            </Suspense>
          )}
        </>
      )}
    </Drawer>
  );
}
