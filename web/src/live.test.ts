import { describe, expect, it } from 'vitest';

import { parseChange, queryKeysFor, retryDelay } from './live';

const change = (entity: string, entity_id = '57', action = `${entity}.changed`) => ({ entity, entity_id, action });

describe('a live change', () => {
  it("to a trip refreshes the trip lists, the board and the trip's own page", () => {
    expect(queryKeysFor(change('trip', '57', 'trip.assigned'))).toEqual([['trips'], ['board'], ['trip', 57]]);
  });

  it('to a vehicle refreshes the vehicle lists and the board', () => {
    expect(queryKeysFor(change('vehicle', '3'))).toEqual([['vehicles'], ['board'], ['quotas'], ['vehicle', 3]]);
  });

  it('to an agency (a merge, a split) refreshes the quotas its vehicles went with', () => {
    expect(queryKeysFor(change('agency', 'WH-GA', 'agency.merged'))).toEqual([['agencies'], ['quotas']]);
  });

  it('to a quota refreshes the quotas', () => {
    expect(queryKeysFor(change('quota', '4', 'quota.changed'))).toEqual([['quotas']]);
  });

  it('to a dispatch run refreshes the runs', () => {
    expect(queryKeysFor(change('dispatch_run', '9'))).toEqual([['runs'], ['run', 9]]);
  });

  it('to an assignment refreshes what shows trips', () => {
    expect(queryKeysFor(change('assignment', '12'))).toEqual([['trips'], ['board'], ['trip']]);
  });

  it('to something no page shows refreshes nothing', () => {
    expect(queryKeysFor(change('audit_checkpoint'))).toEqual([]);
    expect(queryKeysFor(change('trip', ''))).toEqual([['trips'], ['board']]);
  });

  it('is read from the stream, and what is not one is ignored', () => {
    expect(parseChange('{"seq": 1234, "action": "trip.assigned", "entity": "trip", "entity_id": "57", "at": "2026-12-01T09:00:00+08:00"}')).toEqual({
      seq: 1234,
      action: 'trip.assigned',
      entity: 'trip',
      entity_id: '57',
      at: '2026-12-01T09:00:00+08:00',
    });
    expect(parseChange('{"seq": 1, "entity": "trip", "entity_id": 57}')?.entity_id).toBe('57');
    expect(parseChange('not json')).toBeNull();
    expect(parseChange('null')).toBeNull();
    expect(parseChange('{"seq": 1}')).toBeNull();
  });

  it('waits longer after each refusal, never more than half a minute', () => {
    expect(retryDelay(1)).toBe(2000);
    expect(retryDelay(2)).toBe(4000);
    expect(retryDelay(20)).toBe(30_000);
  });
});
