/**
 * What the connector drop-in's provider says when it refuses what it read from Redis: once a minute for
 * each kind and reason, so that a writer of Redis who sends one old sealed message a minute cannot keep
 * the log on "old message" and a real problem (an instance on another key-encryption key) out of it.
 * No warning names a key or channel (upstream's carry a refresh token's jti).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { MESSAGE_MAX_AGE_MS } from '../../../client/src/keycloak-connector/connector-seal.js';
import { type KccClusterProvider, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { connectAs, startTestRedis } from '../../support/redis.js';

const USER = 'warn-prod';
const KEK = 'refusal-warnings-key-encryption-key-0123456789';

let server: LocalRedis;
let provider: KccClusterProvider;
let raw: Redis;
const warnings: string[] = [];

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'warn', env: 'prod' }], persistence: 'none' });
  const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };
  const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, env: {}, logger };
  provider = await kccClusterProvider({ connection, keyEncryptionKeys: { keyEncryptionKey: KEK, env: {} } });
  await provider.connectOrThrow();
  raw = await connectAs(server, USER);
});

afterAll(async () => {
  raw?.disconnect();
  await provider?.disconnect();
  await server?.stop();
});

it('an old message said once, and a message that does not open said too, in the same minute', async () => {
  const channel = 'cluster-cache:listening-channel:TokenCache:warned';
  await provider.subscribe(channel, () => undefined);
  const hidden = provider.redisChannel(channel);
  const envelope = (id: string, data: string) => JSON.stringify({ v: 1, id, type: 'keycloak-connector', sender: 'other', at: Date.now(), data });
  // Sealed under the key (as an honest instance did long ago): too old now.
  const old = (id: string) => new KeyEncryptionKey(KEK).seal(`${USER}:connector:${channel}`, JSON.stringify({ v: 1, t: Date.now() - MESSAGE_MAX_AGE_MS - 60_000, i: id, d: '{}' }));
  for (const id of ['old-1', 'old-2']) await raw.publish(hidden, envelope(id, old(id)));
  await until(() => provider.dropped.invalid === 2, 'both old messages dropped');
  await raw.publish(hidden, envelope('planted', 'not sealed'));
  await until(() => provider.dropped.invalid === 3, 'the planted message dropped');
  const said = warnings.filter((w) => w.startsWith('a keycloak-connector message'));
  expect(said).toHaveLength(2);
  expect(said[0]).toMatch(/was sent more than 5 minutes before: dropped/);
  expect(said[1]).toMatch(/did not open under the key-encryption keys held: dropped/);
  expect(said.filter((w) => w.includes('warned'))).toEqual([]);
});
