import { describe, expect, it } from 'vitest';

import en from '../locales/en';
import { MESSAGES } from './messages';

/** Every string of a catalog, with its key path. */
function strings(tree: unknown, path = ''): [string, string][] {
  if (typeof tree === 'string') return [[path, tree]];
  if (tree === null || typeof tree !== 'object') return [];
  return Object.entries(tree).flatMap(([key, value]) => strings(value, path ? `${path}.${key}` : key));
}

describe('the English words', () => {
  it("carry no Chinese full-width punctuation (a Chinese colon after an English word: 'Dispatch note：')", () => {
    const fullWidth = /[：，。；（）、！？]/;
    const found = [...strings(MESSAGES.en, 'dispatcher'), ...strings(en)].filter(([, text]) => fullWidth.test(text));
    expect(found).toEqual([]);
  });

  it('put a line of a note or a refusal together with an English colon', () => {
    expect(MESSAGES.en.queue.noteLine.replace('{{note}}', '从后门上车')).toBe('Dispatch note: 从后门上车');
    expect(MESSAGES.en.dispatch.refusedTrip).toBe('#{{trip}}: {{reason}}');
  });
});
