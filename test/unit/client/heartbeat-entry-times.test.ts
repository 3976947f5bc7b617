import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from '../../../client/src/heartbeat.js';

describe('heartbeat entries: times a Date can hold', () => {
  const entry = { v: 1, instanceId: 'i-1', version: '0.1.0', host: 'web-1', pid: 42, startedAt: 1, lastSeenAt: 2, intervalMs: 15_000 };

  it.each([['startedAt', 9_000_000_000_000_000], ['lastSeenAt', 8_640_000_000_000_001]])('refuses %s %d, past the largest Date', (field, time) => {
    expect(parseHeartbeat(JSON.stringify({ ...entry, [field]: time }))).toBeUndefined();
  });

  it('takes the largest Date itself', () => {
    expect(parseHeartbeat(JSON.stringify({ ...entry, startedAt: 8_640_000_000_000_000 }))?.startedAt).toBe(8_640_000_000_000_000);
  });
});
