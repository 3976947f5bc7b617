import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyEncryptionKeys, type KeyEncryptionKeyMaterial } from '../../../client/src/keyring/key-encryption-keys.js';

const quiet = { info: () => {}, warn: () => {} };
const KEK_A = 'a'.repeat(64);
const KEK_B = 'b'.repeat(64);

describe('KeyEncryptionKeys: re-reads asked for by rings under keys not held', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Settles a refresh while advancing the fake clock through its waits. */
  async function settle(refresh: Promise<boolean>): Promise<boolean> {
    let done = false;
    void refresh.finally(() => (done = true));
    while (!done) await vi.advanceTimersByTimeAsync(100);
    return refresh;
  }

  it('back off (doubling, at most a minute apart) while the source knows no new key; at once again after it changed', async () => {
    let material: KeyEncryptionKeyMaterial = { kek: KEK_A };
    const source = vi.fn(async () => material);
    const keys = await KeyEncryptionKeys.load(source, quiet, true);
    expect(source).toHaveBeenCalledTimes(1);

    // A Redis writer keeps writing rings under made-up keys, as fast as the instance reads them.
    const reads: number[] = [];
    for (let t = 0; t < 600; t++) {
      const before = source.mock.calls.length;
      await settle(keys.refreshForUnknownKey());
      if (source.mock.calls.length > before) reads.push(performance.now());
      await vi.advanceTimersByTimeAsync(1_000);
    }
    // Ten minutes: 2 s, 4, 8, 16, 32, then every 60 s: about 14 reads, never the 300 a 2 s floor allows.
    expect(reads.length).toBeGreaterThanOrEqual(10);
    expect(reads.length).toBeLessThanOrEqual(16);
    const gaps = reads.slice(1).map((at, i) => at - reads[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(61_100 + 1_000);

    // The secret is rotated: the next ring under the new key is read at once (after the backoff ends), and then without delay.
    material = { kek: KEK_B, previous: [KEK_A] };
    await vi.advanceTimersByTimeAsync(61_000);
    expect(await settle(keys.refreshForUnknownKey())).toBe(true);
    expect(keys.current.fingerprint).not.toBe(undefined);
    const calls = source.mock.calls.length;
    await vi.advanceTimersByTimeAsync(2_000);
    await settle(keys.refreshForUnknownKey());
    expect(source.mock.calls.length).toBe(calls + 1);
  });
});
