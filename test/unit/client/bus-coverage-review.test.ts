import { describe, expect, it } from 'vitest';
import { BusCoverage } from '../../../client/src/revocation/bus-coverage.js';

const head = (entriesAdded: number) => ({ lastId: `${entriesAdded}-0`, entriesAdded });

describe('BusCoverage under review', () => {
  it('a late copy of an entry read in a poll that read more than 10,000 entries does not stand in for a lost message', () => {
    const coverage = new BusCoverage();
    coverage.settle(coverage.begin(), head(0));
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
});
