import { describe, expect, it, vi } from 'vitest';
import { CredentialRefresher } from '../../../client/src/credentials.js';

describe('credential refresher', () => {
  it('reads once for any number of concurrent callers (single-flight)', async () => {
    let reads = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const refresher = new CredentialRefresher({ username: 'u', password: 'old' }, async () => {
      reads++;
      await gate;
      return { username: 'u', password: 'new' };
    }, 1);
    const callers = Array.from({ length: 10 }, () => refresher.refresh());
    release();
    expect(await Promise.all(callers)).toEqual(Array(10).fill(true));
    expect(reads).toBe(1);
    expect(refresher.credentials.password).toBe('new');
    expect(refresher.version).toBe(1);
  });

  it('tells the caller that started a read from those that joined it (one failure, however many connections saw it)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const refresher = new CredentialRefresher({ username: 'u', password: 'old' }, async () => {
      await gate;
      return { username: 'u', password: 'new' };
    }, 1);
    const callers = Array.from({ length: 3 }, () => refresher.refreshAndTell());
    release();
    expect(await Promise.all(callers)).toEqual([
      { changed: true, joined: false },
      { changed: true, joined: true },
      { changed: true, joined: true },
    ]);
  });

  it('reports no change when the source returns the same credentials, and never reads fixed ones', async () => {
    const same = new CredentialRefresher({ username: 'u', password: 'p' }, async () => ({ username: 'u', password: 'p' }), 1);
    expect(await same.refresh()).toBe(false);
    const fixed = new CredentialRefresher({ username: 'u', password: 'p' }, undefined, 1);
    expect(fixed.refreshable).toBe(false);
    expect(await fixed.refresh()).toBe(false);
  });

  it('spaces reads by at least the minimum interval', async () => {
    vi.useFakeTimers();
    try {
      let reads = 0;
      const refresher = new CredentialRefresher({ username: 'u', password: 'p0' }, async () => ({ username: 'u', password: `p${++reads}` }), 100);
      await refresher.refresh();
      const second = refresher.refresh();
      await vi.advanceTimersByTimeAsync(99);
      expect(reads).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(await second).toBe(true);
      expect(reads).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
