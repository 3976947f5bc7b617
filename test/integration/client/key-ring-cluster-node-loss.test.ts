/**
 * Cluster mode: the primary that owns the app-env's slot restarts without persistence while the
 * others stay up. ioredis reports no reconnect for that (the cluster stays `ready`; the node's
 * connection ends and is opened again on the next slot lookup), so before, running instances only
 * wrote their ring back at their next periodic read (`refreshIntervalMs`, 30 s by default: an audit
 * measured 28.8 s on 2026-12-03), and an instance starting in between created a key of its own.
 * Now the ring's log tail checks the log whenever the cluster opens a node connection again.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { slotOwner, useTestCluster } from '../../support/test-cluster.js';
import { untilAsync } from '../../support/events.js';

const KEK = 'cluster-loss-test-key-encryption-key-0123456789abcdefghijklmnop';
const USER = 'lossy-prod';
const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'lossy', env: 'prod' }]);

async function connect(): Promise<KccRedis> {
  return closeLater(await testCluster.connect(USER));
}

describe('key ring in cluster mode: the node holding the ring restarts without its data', () => {
  it('a running instance writes its ring back once the node is back, long before its periodic read', async () => {
    const redis = await connect();
    // The periodic read an hour away: only the restart itself can bring the ring back in time.
    const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 3_600_000, lockTtlMs: 2_000 }));
    const known = ring.signingKey().kid;
    const ringKey = `${USER}:{${USER}}:keyring`;
    const owner = await slotOwner(testCluster.cluster(), ringKey);
    const admin = await owner.admin();
    try {
      expect(await admin.exists(ringKey)).toBe(1);
    } finally {
      await admin.quit();
    }
    await owner.restart();
    await untilAsync(async () => ring.stats.restored >= 1 && (await redis.run((r) => r.exists(ringKey))) === 1, 'the ring written back after the restart', 20_000);
    // An instance starting now finds the running instance's key, not an empty namespace.
    const newcomer = closeLater(await KeyRing.start(await connect(), { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 3_600_000, lockTtlMs: 2_000 }));
    expect(newcomer.signingKey().kid).toBe(known);
  });
});
