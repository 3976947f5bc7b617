import { describe, expect, it } from 'vitest';
import { parseStreamInfo } from '../../../client/src/event-log.js';
import { RecentIds } from '../../../client/src/recent-ids.js';
import { BusCoverage } from '../../../client/src/revocation/bus-coverage.js';

/** A head at `entriesAdded` whose newest entry has the envelope id `newest` (an entry of another id by default). */
const head = (entriesAdded: number | undefined, newest = 'unheard') => {
  const lastId = `${entriesAdded ?? 0}-0`;
  return { lastId, entriesAdded, newest: { id: lastId, envelopeId: newest } };
};

/** A coverage settled at `added` entries, as after a read. */
function settledAt(added: number): BusCoverage {
  const coverage = new BusCoverage();
  coverage.settle(coverage.begin(), head(added));
  return coverage;
}

describe('BusCoverage: whether a poll may skip reading the log', () => {
  it('covers when exactly as many distinct messages were heard as entries were appended', () => {
    const coverage = settledAt(10);
    coverage.hear('a');
    coverage.hear('b');
    coverage.hear('b'); // a copy (both pub/sub kinds while bridging) counts once
    const window = coverage.begin();
    expect(coverage.covers(window, head(12, 'b'))).toBe(true);
    expect(coverage.covers(window, head(12))).toBe(false); // the newest entry is not one heard
    expect(coverage.covers(window, head(13))).toBe(false); // one entry came without its message
    expect(coverage.covers(window, head(11))).toBe(false); // one message is not in the log
  });

  it('does not cover before the first read, nor on a server that does not count appends', () => {
    const fresh = new BusCoverage();
    expect(fresh.covers(fresh.begin(), head(0))).toBe(false);
    const coverage = settledAt(5);
    expect(coverage.covers(coverage.begin(), head(undefined))).toBe(false);
  });

  it('counts messages heard during a check towards the next one', () => {
    const coverage = settledAt(0);
    coverage.hear('a');
    const window = coverage.begin();
    coverage.hear('b'); // after the head was asked for
    expect(coverage.covers(window, head(1, 'a'))).toBe(true);
    coverage.settle(window, head(1));
    expect(coverage.covers(coverage.begin(), head(2, 'b'))).toBe(true);
  });

  it('does not count again a message already accounted for: heard before, or read from the log', () => {
    const coverage = settledAt(0);
    coverage.hear('a');
    let window = coverage.begin();
    coverage.settle(window, head(1));
    coverage.read('r'); // read from the log during a check
    coverage.hear('a'); // a replay of a message counted before
    coverage.hear('r'); // a late copy of an entry read
    window = coverage.begin();
    expect(coverage.covers(window, head(2))).toBe(false);
    expect(coverage.covers(window, head(1))).toBe(true);
  });

  it('an entry read during a check drops the copy heard meanwhile from the next count', () => {
    const coverage = settledAt(0);
    const window = coverage.begin();
    coverage.hear('late'); // its entry is before the head: the read brings it
    coverage.read('late');
    coverage.settle(window, head(1));
    expect(coverage.covers(coverage.begin(), head(1))).toBe(true);
  });

  it('a reconnect makes the next check read, also when it happens during a check', () => {
    const coverage = settledAt(3);
    coverage.invalidate();
    expect(coverage.covers(coverage.begin(), head(3))).toBe(false);
    coverage.settle(coverage.begin(), head(3)); // the read after the reconnect
    const window = coverage.begin();
    coverage.invalidate(); // during the next check
    expect(coverage.covers(window, head(3))).toBe(false);
    coverage.settle(window, head(3));
    expect(coverage.covers(coverage.begin(), head(3))).toBe(false);
  });

  it('a late copy of an entry read in a poll that read more than 10,000 entries does not stand in for a lost message', () => {
    const coverage = settledAt(0);
    // A burst: 10,001 entries, the subscriber lagging behind the command connection. The poll reads
    // them all before their messages arrive.
    const window = coverage.begin();
    expect(coverage.covers(window, head(10_001))).toBe(false);
    for (let i = 0; i <= 10_000; i++) coverage.read(`burst-${i}`);
    coverage.settle(window, head(10_001));
    coverage.hear('burst-0'); // the oldest read, arriving late: forgotten by the ring of 10,000
    // One more entry is appended; its message is lost. The next poll must read it.
    expect(coverage.covers(coverage.begin(), head(10_002))).toBe(false);
  });

  it('past 10,000 messages in one poll it does not trust the count (a replay of a forgotten one would count) and reads', () => {
    const coverage = settledAt(0);
    for (let i = 0; i <= 10_000; i++) coverage.hear(`m${i}`);
    expect(coverage.covers(coverage.begin(), head(10_001))).toBe(false);
  });

  it('a copy or a replay is reported as such (nothing to apply), and an id written here is not counted when heard', () => {
    const coverage = settledAt(0);
    expect(coverage.hear('a')).toBe(true);
    expect(coverage.hear('a')).toBe(false);
    coverage.wrote('mine');
    expect(coverage.hear('mine')).toBe(false);
    expect(coverage.knows('mine')).toBe(true);
    expect(coverage.covers(coverage.begin(), head(1, 'a'))).toBe(true);
  });

  it('the newest entry must be one heard in the window judged', () => {
    const coverage = settledAt(0);
    coverage.hear('a');
    const window = coverage.begin();
    expect(coverage.covers(window, head(1, 'a'))).toBe(true);
    expect(coverage.covers(window, head(1, 'lost'))).toBe(false);
    expect(coverage.covers(window, { ...head(1), newest: null })).toBe(false); // no entry retained
    expect(coverage.covers(window, { ...head(1), newest: undefined })).toBe(false); // not known: not trusted
  });
});

describe('parseStreamInfo', () => {
  const reply = (extra: unknown[]) => ['length', 2, 'radix-tree-keys', 1, 'last-generated-id', '1796197338931-0', ...extra, 'first-entry', ['1796197338925-0', ['i', 'a']]];

  it('reads the newest id and the count of appended entries (Redis 7.0 and later)', () => {
    expect(parseStreamInfo(reply(['max-deleted-entry-id', '0-0', 'entries-added', 2]))).toMatchObject({ lastId: '1796197338931-0', entriesAdded: 2 });
  });

  it('reads the newest entry with its envelope id; null when the log holds none', () => {
    const last = ['last-entry', ['1796197338931-0', ['i', 'envelope-b', 'e', '{}']]];
    expect(parseStreamInfo(reply(['entries-added', 2, ...last]))?.newest).toEqual({ id: '1796197338931-0', envelopeId: 'envelope-b' });
    expect(parseStreamInfo(reply(['entries-added', 2, 'last-entry', null]))?.newest).toBeNull();
  });

  it('leaves the count undefined where the server does not report it (before 7.0), or reports nonsense', () => {
    expect(parseStreamInfo(reply([]))?.entriesAdded).toBeUndefined();
    expect(parseStreamInfo(reply(['entries-added', -1]))?.entriesAdded).toBeUndefined();
    expect(parseStreamInfo(reply(['entries-added', 'many']))?.entriesAdded).toBeUndefined();
  });

  it('gives nothing for a reply without a well-formed newest id (the caller falls back to reading the log)', () => {
    expect(parseStreamInfo(['length', 0])).toBeUndefined();
    expect(parseStreamInfo(['last-generated-id', 'x'])).toBeUndefined();
  });
});

describe('RecentIds', () => {
  it('keeps at least the last `capacity` ids added, with their tags, and forgets older ones', () => {
    const ids = new RecentIds(3);
    expect(['a', 'b', 'c'].map((id) => ids.add(id, 1))).toEqual([true, true, true]);
    expect(ids.add('b', 2)).toBe(false);
    expect(ids.tag('b')).toBe(1);
    ids.set('b', 2);
    expect(ids.tag('b')).toBe(2);
    for (const id of ['d', 'e']) ids.add(id);
    expect(['c', 'd', 'e'].every((id) => ids.has(id))).toBe(true); // the last three
    for (const id of ['f', 'g', 'h', 'i']) ids.add(id);
    expect(ids.has('a')).toBe(false);
    expect(ids.tag('a')).toBeUndefined();
    expect(['g', 'h', 'i'].every((id) => ids.has(id))).toBe(true);
  });
});
