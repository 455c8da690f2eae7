import { describe, expect, it } from 'vitest';

import { DEFAULT_LANGUAGE, storedLanguage } from './i18n';
import { humanize, label, type Vocabularies } from './vocabulary';

const VOCABULARIES: Vocabularies = {
  trip_status: [
    { value: 'requested', zh: '已申请' },
    { value: 'in_progress', zh: '出车中' },
  ],
  priority: [{ value: 'emergency', zh: '应急' }],
};

describe('labels', () => {
  it("are the registry's Chinese labels in Chinese", () => {
    expect(label(VOCABULARIES, 'trip_status', 'in_progress', 'zh-CN')).toBe('出车中');
    expect(label(VOCABULARIES, 'priority', 'emergency', 'zh-CN')).toBe('应急');
  });

  it('are the value in words in English', () => {
    expect(label(VOCABULARIES, 'trip_status', 'in_progress', 'en')).toBe('In progress');
    expect(humanize('law_enforcement')).toBe('Law enforcement');
  });

  it('are proper English words for the values that are codes, not the code capitalised', () => {
    expect(label(VOCABULARIES, 'powertrain', 'ice', 'en')).toBe('Petrol/diesel');
    expect(label(VOCABULARIES, 'powertrain', 'bev', 'en')).toBe('Battery electric');
    expect(label(VOCABULARIES, 'powertrain', 'phev', 'en')).toBe('Plug-in hybrid');
    expect(label(VOCABULARIES, 'powertrain', 'hev', 'en')).toBe('Hybrid');
    expect(label(VOCABULARIES, 'powertrain', 'fcev', 'en')).toBe('Fuel cell');
    expect(label({ powertrain: [{ value: 'bev', zh: '纯电动' }] }, 'powertrain', 'bev', 'zh-CN')).toBe('纯电动');
  });

  it("name the usage audit's rules in English by what each catches, in Chinese as the registry does", () => {
    expect(label(VOCABULARIES, 'finding_kind', 'unscheduled_drive', 'en')).toBe('Unscheduled drive');
    expect(label(VOCABULARIES, 'finding_kind', 'geofence_entry', 'en')).toBe('Prohibited area entered');
    const kinds = { finding_kind: [{ value: 'unscheduled_drive', zh: '非调度用车' }] };
    expect(label(kinds, 'finding_kind', 'unscheduled_drive', 'zh-CN')).toBe('非调度用车');
  });

  it('fall back to the value itself, never to nothing', () => {
    expect(label(undefined, 'trip_status', 'requested', 'zh-CN')).toBe('requested');
    expect(label(VOCABULARIES, 'trip_status', 'brand_new', 'zh-CN')).toBe('brand_new');
    expect(label(VOCABULARIES, 'role', 'driver', 'zh-CN')).toBe('driver');
  });
});

describe('the language', () => {
  const storage = (value: string | null) => ({ getItem: () => value });

  it('is Chinese unless English was chosen', () => {
    expect(DEFAULT_LANGUAGE).toBe('zh-CN');
    expect(storedLanguage(storage(null))).toBe('zh-CN');
    expect(storedLanguage(storage('en'))).toBe('en');
    expect(storedLanguage(storage('fr'))).toBe('zh-CN');
  });

  it('is Chinese where storage refuses', () => {
    expect(
      storedLanguage({
        getItem: () => {
          throw new Error('SecurityError');
        },
      }),
    ).toBe('zh-CN');
  });
});
