/**
 * TLS session resumption in cluster mode (client/src/tls-sessions.ts): each node's session is kept
 * for that node. Every node of the local cluster is its own redis-server process with its own ticket
 * keys, as separate ElastiCache nodes are, so a session offered to the wrong node is refused with a
 * full handshake.
 */
import type { TLSSocket } from 'node:tls';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'resumecl-prod';
const testCluster = useTestCluster([{ app: 'resumecl', env: 'prod' }]);
const closeLater = closeAfterEach();

const portOf = (node: Redis) => node.options.port;
const reused = (node: Redis) => (node.stream as TLSSocket).isSessionReused();

describe('TLS session resumption in cluster mode', () => {
  it("a node's new connection resumes that node's session, whichever node gave the instance a session last", { timeout: 60_000 }, async () => {
    const redis = closeLater(await testCluster.connect(USER));
    const cluster = redis.client as Cluster;
    const primaries = () => cluster.nodes('master');
    await Promise.all(primaries().map((node) => node.ping())); // a connection, with its session, to every primary
    expect(primaries()).toHaveLength(3);

    for (const lost of primaries().map(portOf)) {
      const node = primaries().find((n) => portOf(n) === lost)!;
      const ended = new Promise<void>((resolve) => node.once('end', () => resolve()));
      node.stream.destroy();
      await ended; // ioredis drops a cluster node's connection that closed
      const resumptionsBefore = redis.stats.tlsResumptions;
      // A topology read (ioredis', over a new connection to another node: the last session the
      // instance got now comes from that node) brings the lost node back into the pool.
      await new Promise<void>((resolve, reject) => cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve())));
      await until(() => primaries().some((n) => portOf(n) === lost), `the node on port ${lost} back in the pool`, 30_000);
      const back = primaries().find((n) => portOf(n) === lost)!;
      expect(back).not.toBe(node);
      expect(await back.ping()).toBe('PONG');
      expect(reused(back)).toBe(true);
      expect(redis.stats.tlsResumptions).toBeGreaterThanOrEqual(resumptionsBefore + 1);
    }
  });
});
