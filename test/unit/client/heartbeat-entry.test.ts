import { describe, expect, it } from 'vitest';
import { parseHeartbeat } from '../../../client/src/heartbeat.js';

const entry = { v: 1, instanceId: 'i-1', version: '0.1.0', host: 'web-1', pid: 42, startedAt: 1, lastSeenAt: 2, intervalMs: 15_000 };

describe('heartbeat entries as a reader takes them (format version 1)', () => {
  it('reads a version-1 entry and drops fields it does not know (a later release may add some)', () => {
    expect(parseHeartbeat(JSON.stringify({ ...entry, region: 'eu-west-1' }))).toEqual(entry);
  });

  it.each<[string, string]>([
    ['another format version', JSON.stringify({ ...entry, v: 2 })],
    ['not JSON', 'not json'],
    ['larger than 4 KiB', JSON.stringify({ ...entry, host: 'h'.repeat(5_000) })],
    ['a host longer than 256 characters', JSON.stringify({ ...entry, host: 'h'.repeat(300) })],
    ['a time that is not a whole number', JSON.stringify({ ...entry, startedAt: 1.5 })],
    ['an interval of 0', JSON.stringify({ ...entry, intervalMs: 0 })],
    ['an empty instance id', JSON.stringify({ ...entry, instanceId: '' })],
  ])('refuses %s', (_name, text) => {
    expect(parseHeartbeat(text)).toBeUndefined();
  });
});
