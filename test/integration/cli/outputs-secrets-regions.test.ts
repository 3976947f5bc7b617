/**
 * `--outputs` with stacks in two regions, and one app-env whose user secret the operator may not
 * read. Secrets Manager is the fake (aws-sdk-client-mock); Redis is real. The region each secret is
 * read in is the one the Secrets Manager client was built with (`client.config.region()`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, type SecretsManagerClient, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AppEnv, namespacedKey } from '../../../client/src/contract/naming.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { runCliInProcess } from '../../support/cli.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { secretArn, writeStackOutputs } from '../../support/stack-outputs.js';
import { startTestRedis } from '../../support/redis.js';

const APP_ENVS: AppEnv[] = [{ app: 'shop', env: 'dev' }, { app: 'blog', env: 'dev' }];
// A stack of format 2 (cache.region) in Ireland, one deployed before it (format 1: the region only in its ARNs) in Virginia.
const STACKS = [
  { name: 'KccRedisEu', region: 'eu-west-1', format: 2 },
  { name: 'KccRedisUs', region: 'us-east-1', format: 1 },
] as const;
const arn = secretArn;
const denied = (id: string) =>
  new SecretsManagerServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}` });

type StatusJson = { exitCode: number; appEnvs: { appEnv: string; source: string; error?: string; code?: string; keyRing?: { state: string } }[] };

describe('kcc-redis --outputs: the secrets\' regions, and one unreadable secret among several app-envs', () => {
  let dir: string;
  let server: LocalRedis;
  let secrets: FakeSecretsManager;
  let outputs: string;
  let env: Record<string, string>;
  /** The region each GetSecretValue was sent in, by secret id. */
  const regionsRead = async () =>
    Promise.all(secrets.mock.commandCalls(GetSecretValueCommand).map(async (call) => [call.args[0].input.SecretId, await (call.thisValue as SecretsManagerClient).config.region()] as const));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-regions-'));
    server = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    secrets = new FakeSecretsManager();
    outputs = await writeStackOutputs(dir, server, secrets, STACKS, APP_ENVS, 'k'.repeat(64));
    // No AWS_REGION: the region comes from the file.
    env = { KCC_REDIS_CA_FILE: server.tls.caFile };
  });
  afterEach(() => {
    secrets.mock.resetHistory();
  });
  afterAll(async () => {
    secrets?.restore();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('without --region or AWS_REGION, each secret is read in its stack\'s region (format 2: cache.region; format 1: the ARN\'s)', async () => {
    const result = await runCliInProcess(['status', '--outputs', outputs, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.json<StatusJson>().appEnvs.map((a) => [a.appEnv, a.error])).toEqual([['shop-dev', undefined], ['blog-dev', undefined], ['shop-dev', undefined], ['blog-dev', undefined]]);
    const read = await regionsRead();
    expect(read).toHaveLength(8); // user and KEK secret of each app-env
    for (const [id, region] of read) expect([id, region]).toEqual([id, /^arn:aws:secretsmanager:([a-z0-9-]+):/.exec(id!)![1]]);
    expect(new Set(read.map(([, region]) => region))).toEqual(new Set(['eu-west-1', 'us-east-1']));
  });

  it('an ARN\'s region wins over --region and AWS_REGION (a secret is read only in its own region)', async () => {
    await runCliInProcess(['status', '--outputs', outputs, '--region', 'eu-central-1', '--json'], { env: { ...env, AWS_REGION: 'ap-south-1' } });
    const read = await regionsRead();
    expect(read).toHaveLength(8);
    for (const [id, region] of read) expect([id, region]).toEqual([id, /^arn:aws:secretsmanager:([a-z0-9-]+):/.exec(id!)![1]]);
  });

  it('the environment\'s KCC_REDIS_SECRET_ID, an ARN: read in its region too, not AWS_REGION\'s', async () => {
    const userArn = arn('eu-west-1', 'KccRedisEu', 'user', 'shop-dev');
    await runCliInProcess(['status', '--url', `rediss://127.0.0.1:${server.port}`, '--json'], { env: { ...env, KCC_REDIS_SECRET_ID: userArn, AWS_REGION: 'ap-south-1' } });
    expect((await regionsRead()).filter(([id]) => id === userArn).map(([, region]) => region)).toEqual(['eu-west-1']);
  });

  it('--region (or AWS_REGION) is where a secret given by name is read', async () => {
    secrets.add('shop-dev-by-name', JSON.stringify({ username: 'shop-dev', password: server.users.get('shop-dev')!.password, keyPrefix: 'shop-dev:' }));
    await runCliInProcess(['status', '--secret-id', 'shop-dev-by-name', '--region', 'eu-central-1', '--json'], { env });
    expect((await regionsRead()).filter(([id]) => id === 'shop-dev-by-name').map(([, region]) => region)).toEqual(['eu-central-1']);
  });

  it('a region nowhere to be found: the error names the fix', async () => {
    // A secret given by name (no ARN, no file): the SDK's own region resolution runs, and finds none.
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION, AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE, AWS_PROFILE: process.env.AWS_PROFILE };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    delete process.env.AWS_PROFILE;
    process.env.AWS_CONFIG_FILE = join(dir, 'no-aws-config');
    secrets.mock.on(GetSecretValueCommand, { SecretId: 'shop-dev-user' }).callsFake(async (_input, getClient: () => SecretsManagerClient) => {
      await getClient().config.region();
      return { SecretString: '{}' };
    });
    try {
      const result = await runCliInProcess(['rotate-keys', '--secret-id', 'shop-dev-user', '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120000', '--yes'], { env });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('no AWS region: pass --region or set AWS_REGION');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  /** `status --watch --json` for `refreshes` refreshes, its clock moved by the interval between them; `between(n)` runs after the n-th. */
  async function watch(argv: string[], refreshes: number, between?: (n: number) => Promise<void>) {
    const result = await runCliInProcess(['status', ...argv, '--watch', '--json'], { env, watch: { refreshes, between } });
    return { code: result.code, docs: result.jsonLines<StatusJson>() };
  }
  const secretReads = (id: string) => secrets.mock.commandCalls(GetSecretValueCommand).filter((call) => call.args[0].input.SecretId === id).length;

  it('status --watch reads each key-encryption-key secret once, not on every refresh', async () => {
    const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisEu'], 3);
    expect(docs).toHaveLength(3);
    for (const name of ['shop-dev', 'blog-dev']) expect(secretReads(arn('eu-west-1', 'KccRedisEu', 'kek', name))).toBe(1);
  });

  it('status --watch reads the credentials again after a password rotation (WRONGPASS), not before', async () => {
    const userArn = arn('eu-west-1', 'KccRedisEu', 'user', 'shop-dev');
    const before = secrets.value(userArn)!;
    const admin = await server.admin();
    try {
      // Refreshes a minute apart: the credentials are read again at most once a minute.
      const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisEu', '--app', 'shop', '--env', 'dev', '--interval', '60'], 4, async (n) => {
        if (n !== 1) return;
        // The password rotation: the user's new password on the server and in its secret.
        const password = `${server.users.get('shop-dev')!.password}-rotated`;
        await admin.call('ACL', 'SETUSER', 'shop-dev', 'resetpass', `>${password}`);
        secrets.add(userArn, JSON.stringify({ ...JSON.parse(before), password }));
      });
      expect(docs.map((d) => d.appEnvs[0]!.error?.match(/WRONGPASS/)?.[0] ?? 'ok')).toEqual(['ok', 'WRONGPASS', 'ok', 'ok']);
      expect(docs[1]!.appEnvs[0]!.code).toBe('KCC_AUTH_FAILED');
      expect(secretReads(userArn)).toBe(2); // once at the start, once after the WRONGPASS
      // The key-encryption key kept across that re-read (3 minutes < 5): read once.
      expect(secretReads(arn('eu-west-1', 'KccRedisEu', 'kek', 'shop-dev'))).toBe(1);
    } finally {
      await admin.call('ACL', 'SETUSER', 'shop-dev', 'resetpass', `>${server.users.get('shop-dev')!.password}`);
      secrets.add(userArn, before);
      await admin.quit();
    }
  });

  it('several --secret-id: KCC_KEYRING_KEK_SECRET_ID (one app-env\'s key) is not taken for all of them; with one --secret-id it is', async () => {
    const shopKek = arn('eu-west-1', 'KccRedisEu', 'kek', 'shop-dev');
    const withEnv = { ...env, AWS_REGION: 'eu-west-1', KCC_REDIS_URL: `rediss://127.0.0.1:${server.port}`, KCC_KEYRING_KEK_SECRET_ID: shopKek };
    const users = ['shop-dev', 'blog-dev'].map((name) => arn('eu-west-1', 'KccRedisEu', 'user', name));
    const several = await runCliInProcess(['status', '--secret-id', users[0]!, '--secret-id', users[1]!, '--json'], { env: withEnv });
    expect(several.stderr).toBe('');
    expect(several.json<StatusJson>().appEnvs.map((a) => [a.appEnv, a.error])).toEqual([['shop-dev', undefined], ['blog-dev', undefined]]);
    expect(secretReads(shopKek)).toBe(0);
    const one = await runCliInProcess(['status', '--secret-id', users[0]!, '--json'], { env: withEnv });
    expect(one.stderr).toBe('');
    expect(secretReads(shopKek)).toBe(1);
  });

  it('one refused user secret: that app-env is its own error row; status and check go on with the others (exit 2)', async () => {
    const refused = arn('eu-west-1', 'KccRedisEu', 'user', 'blog-dev');
    secrets.mock.on(GetSecretValueCommand, { SecretId: refused }).rejects(denied(refused));
    const status = await runCliInProcess(['status', '--outputs', outputs, '--json'], { env });
    expect(status.code).toBe(2);
    const report = status.json<StatusJson>();
    expect(report.exitCode).toBe(2);
    expect(report.appEnvs.map((a) => [a.appEnv, a.source.replace(/^--outputs .* \(/, '('), a.error === undefined ? a.keyRing!.state : 'error'])).toEqual([
      ['shop-dev', '(KccRedisEu)', 'absent'],
      ['blog-dev', '(KccRedisEu)', 'error'],
      ['shop-dev', '(KccRedisUs)', 'absent'],
      ['blog-dev', '(KccRedisUs)', 'absent'],
    ]);
    expect(report.appEnvs[1]!.error).toContain('AccessDeniedException');
    expect(report.appEnvs.map((a) => a.code)).toEqual([undefined, 'KCC_AWS_LOOKUP_FAILED', undefined, undefined]);

    const table = await runCliInProcess(['status', '--outputs', outputs], { env });
    expect(table.code).toBe(2);
    expect(table.stdout).toMatch(/^app-env +unreadable: could not read secret "arn:aws:secretsmanager:eu-west-1:[^"]+blog-dev[^"]+": AccessDeniedException/m);

    const check = await runCliInProcess(['check', '--outputs', outputs], { env });
    expect(check.code).toBe(2);
    expect(check.stdout).toMatch(/^blog-dev \(KccRedisEu\) +read its credentials +ERROR +could not read secret .*AccessDeniedException/m);
    for (const row of ['shop-dev (KccRedisEu)', 'shop-dev (KccRedisUs)', 'blog-dev (KccRedisUs)']) {
      expect(check.stdout).toMatch(new RegExp(`^${row.replace(/[()]/g, '\\$&')} +log in as \\S+ +ok`, 'm'));
    }
    expect(check.stdout).toContain('1 app-env out of reach or without readable credentials.');
  });

  it('status --watch: a secret that stays refused is read again at most once a minute, the others\' with it (not on every refresh)', async () => {
    const refused = arn('eu-west-1', 'KccRedisEu', 'user', 'blog-dev');
    secrets.mock.on(GetSecretValueCommand, { SecretId: refused }).rejects(denied(refused));
    const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisEu'], 6);
    expect(docs.map((d) => d.appEnvs.map((a) => (a.error === undefined ? 'ok' : 'error')))).toEqual(Array.from({ length: 6 }, () => ['ok', 'error']));
    // Six refreshes 2 s apart: the first read only (six each with a re-read on every refresh).
    expect([secretReads(refused), secretReads(arn('eu-west-1', 'KccRedisEu', 'user', 'shop-dev'))]).toEqual([1, 1]);
  });

  it('status --watch: a ring that stays degraded (forged in Redis) reads its key-encryption-key secret at most once a minute', async () => {
    const admin = await server.admin();
    const ring = namespacedKey('shop-dev:', 'keyring');
    try {
      // Under a key-encryption key nobody holds: the one refusal a newer key could cure, so the KEK secret is read again (at most once a minute).
      await admin.hset(ring, 'version', 1, 'value', `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: '0123456789abcdef', typ: 'kcc-keyring' })).toString('base64url')}.e30.AAAA`);
      const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisUs', '--app', 'shop', '--env', 'dev'], 6);
      expect(docs.map((d) => d.appEnvs[0]!.keyRing!.state)).toEqual(Array.from({ length: 6 }, () => 'degraded'));
      // The first read only (six with a re-read whenever the ring does not verify).
      expect(secretReads(arn('us-east-1', 'KccRedisUs', 'kek', 'shop-dev'))).toBe(1);
    } finally {
      await admin.del(ring);
      await admin.quit();
    }
  });

  it('status --watch: a key-encryption-key secret refused is no credentials failure: the user secret is not read again', async () => {
    // Near the end: the refusal stays on the fake for the rest of the file.
    const kek = arn('us-east-1', 'KccRedisUs', 'kek', 'blog-dev');
    secrets.mock.on(GetSecretValueCommand, { SecretId: kek }).rejects(denied(kek));
    const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisUs', '--app', 'blog', '--env', 'dev', '--interval', '60'], 3);
    expect(docs.map((d) => [d.appEnvs[0]!.code, d.appEnvs[0]!.error?.includes('could not read secret')])).toEqual(Array.from({ length: 3 }, () => ['KCC_AWS_LOOKUP_FAILED', true]));
    // Once (3 with the credentials read again whenever an error said "could not read secret").
    expect(secretReads(arn('us-east-1', 'KccRedisUs', 'user', 'blog-dev'))).toBe(1);
  });

  it('status --watch: a key-encryption-key secret that stays refused is read again at most once a minute', async () => {
    // A KEK secret this operator may not read, refreshes 2 s apart (last: the refusal stays on the fake).
    const kek = arn('us-east-1', 'KccRedisUs', 'kek', 'blog-dev');
    secrets.mock.on(GetSecretValueCommand, { SecretId: kek }).rejects(denied(kek));
    const { docs } = await watch(['--outputs', outputs, '--stack', 'KccRedisUs', '--app', 'blog', '--env', 'dev'], 6);
    expect(docs.map((d) => d.appEnvs[0]!.code)).toEqual(Array.from({ length: 6 }, () => 'KCC_AWS_LOOKUP_FAILED'));
    expect(secretReads(kek)).toBe(1);
  });
});
