import { describe, expect, it } from 'vitest';
import { KccInputError } from '../../../client/src/index.js';
import { decodeEnvelope, encodeEnvelope } from '../../../client/src/envelope.js';

const isSid = (data: unknown): data is { sid: string } =>
  typeof data === 'object' && data !== null && typeof (data as { sid?: unknown }).sid === 'string';

describe('envelope', () => {
  it('round-trips a message with sender, type, time and a unique id', () => {
    const a = encodeEnvelope('instance-1', 'session-revoked', { sid: 's1' }, 1024);
    const b = encodeEnvelope('instance-1', 'session-revoked', { sid: 's1' }, 1024);
    expect(a.envelope.id).not.toBe(b.envelope.id);
    expect(decodeEnvelope(a.json, 1024, isSid)).toEqual({ ok: true, envelope: a.envelope });
  });

  it('refuses to send a message over the size limit or with a bad type', () => {
    expect(() => encodeEnvelope('i', 'big', { x: 'x'.repeat(2000) }, 1024)).toThrow(KccInputError);
    expect(() => encodeEnvelope('i', 'big', { x: 'x'.repeat(2000) }, 1024)).toThrow(/is \d+ bytes; the limit \(maxMessageBytes\) is 1024/);
    expect(() => encodeEnvelope('i', 'Bad Type', {}, 1024)).toThrow(/message type "Bad Type" must match/);
  });

  const valid = JSON.parse(encodeEnvelope('i', 'session-revoked', { sid: 's' }, 1024).json) as Record<string, unknown>;
  it.each<[string, string, 'oversized' | 'malformed' | 'invalid']>([
    ['oversized', JSON.stringify({ ...valid, data: { sid: 'x'.repeat(2000) } }), 'oversized'],
    ['multi-byte oversized', JSON.stringify({ ...valid, data: { sid: '€'.repeat(400) } }), 'oversized'],
    ['not JSON', '{"v":1,', 'malformed'],
    ['JSON but not an object', '"hello"', 'malformed'],
    ['null', 'null', 'malformed'],
    ['wrong version', JSON.stringify({ ...valid, v: 2 }), 'malformed'],
    ['missing sender', JSON.stringify({ ...valid, sender: undefined }), 'malformed'],
    ['bad type', JSON.stringify({ ...valid, type: 'DROP TABLE' }), 'malformed'],
    ['time not a number', JSON.stringify({ ...valid, at: 'now' }), 'malformed'],
    ['no data', JSON.stringify({ ...valid, data: undefined }), 'malformed'],
    ['data fails validation', JSON.stringify({ ...valid, data: { sid: 42 } }), 'invalid'],
  ])('drops a %s message with reason %s', (_name, raw, reason) => {
    expect(decodeEnvelope(raw, 1024, isSid)).toEqual({ ok: false, reason });
  });

  it('counts UTF-8 bytes, not characters, whenever the characters alone could not rule the limit out', () => {
    // Bytes are only counted when length × 3 > the limit; at that edge every kind of character must still be judged by its bytes.
    const message = (sid: string) => JSON.stringify({ ...valid, data: { sid } });
    const base = Buffer.byteLength(message(''));
    for (const [char, bytes] of [['x', 1], ['é', 2], ['€', 3], ['😀', 4]] as const) {
      const fits = message(char.repeat(Math.floor((1024 - base) / bytes)));
      const over = message(char.repeat(Math.floor((1024 - base) / bytes) + 1));
      expect(Buffer.byteLength(fits), char).toBeLessThanOrEqual(1024);
      expect(decodeEnvelope(fits, 1024, isSid).ok, char).toBe(true);
      expect(decodeEnvelope(over, 1024, isSid), char).toEqual({ ok: false, reason: 'oversized' });
    }
  });
});
