/**
 * TLS session resumption in cluster mode (client/src/tls-sessions.ts): each node's session is kept
 * for that node. Every node of the local cluster is its own redis-server process with its own ticket
 * keys, as separate ElastiCache nodes are, so a session offered to the wrong node is refused with a
 * full handshake (the first test checks that this still holds, as the second rests on it).
 */
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { secretsIn } from '../../support/secret-scan.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'resumecl-prod';
const testCluster = useTestCluster([{ app: 'resumecl', env: 'prod' }]);
const closeLater = closeAfterEach();

const portOf = (node: Redis) => node.options.port;
const socketOf = (node: Redis) => node.stream as TLSSocket;

/** A TLS handshake with `port` of the local cluster offering `session`; whether it resumed. */
async function handshake(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
  const { ca } = testCluster.cluster();
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...(session && { session }) });
  try {
    socket.resume();
    return await new Promise((resolve, reject) => {
      socket.once('session', (given: Buffer) => resolve({ reused: socket.isSessionReused(), session: Buffer.from(given) }));
      socket.once('error', reject);
    });
  } finally {
    socket.destroy();
  }
}

describe('TLS session resumption in cluster mode', () => {
  it("the premise: a node refuses another node's session (full handshake) and resumes its own", async () => {
    const [a, b] = testCluster.cluster().nodes;
    const { session } = await handshake(a!.port);
    expect((await handshake(b!.port, session)).reused).toBe(false);
    expect((await handshake(a!.port, session)).reused).toBe(true);
  });

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
      // A topology read (ioredis', over a new connection to another node: the last session the
      // instance got now comes from that node) brings the lost node back into the pool.
      await new Promise<void>((resolve, reject) => cluster.refreshSlotsCache((error) => (error ? reject(error) : resolve())));
      await until(() => primaries().some((n) => portOf(n) === lost), `the node on port ${lost} back in the pool`, 30_000);
      const back = primaries().find((n) => portOf(n) === lost)!;
      expect(back).not.toBe(node);
      expect(await back.ping()).toBe('PONG');
      expect(socketOf(back).isSessionReused()).toBe(true);
    }
  });

  it('no session (each holds its resumption secret) is in a printed, inspected, serialized or walked object of a cluster-mode instance', { timeout: 60_000 }, async () => {
    const redis = closeLater(await testCluster.connect(USER, ['subscriber', 'reader']));
    const commands = redis.client as Cluster;
    await Promise.all(commands.nodes('master').map((node) => node.ping()));
    const subscriber = (await redis.dedicated('subscriber')) as Cluster;
    await redis.subscribe(redis.channel('leak-scan'), () => {}); // a sharded subscriber's connection too
    const reader = (await redis.dedicated('reader')) as Cluster;
    await Promise.all(reader.nodes('master').map((node) => node.ping()));
    // ioredis' own topology read: a connection of its own through the instance's connector.
    await new Promise<void>((resolve, reject) => commands.refreshSlotsCache((error) => (error ? reject(error) : resolve())));
    expect(redis.stats.tlsResumptions).toBeGreaterThan(0);

    const nodes = [commands, subscriber, reader].flatMap((cluster) => cluster.nodes('all'));
    const sockets = nodes.map(socketOf).filter((socket) => socket?.getSession);
    const sessions = sockets.flatMap((socket) => socket.getSession() ?? []);
    expect(sessions.length).toBeGreaterThanOrEqual(6);
    // As the bytes would show: raw, hex, base64, and util.inspect's list of numbers.
    const shown = sessions.flatMap((bytes) => [bytes.toString('latin1'), bytes.toString('hex'), bytes.toString('base64'), [...bytes.subarray(32, 64)].join(', ')]);
    for (const subject of [redis, commands, subscriber, reader, commands.options, ...nodes, ...sockets]) {
      expect(secretsIn(subject, shown)).toEqual([]);
    }
  });
});
