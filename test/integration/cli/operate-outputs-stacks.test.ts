/**
 * `--outputs` files with more than one stack (staging and prod in one file), and an operator who may
 * read one app-env's secrets only. Secrets Manager is the fake (test/support), refusing a secret as
 * IAM does (AccessDeniedException); Redis is real.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { type AppEnv, appEnvUserName } from '../../../client/src/contract/naming.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { randomPassword } from '../../../local/local-util.js';
import { runCliInProcess } from '../../support/cli.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { secretArn, writeStackOutputs } from '../../support/stack-outputs.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const REGION = 'eu-west-1';
const APP_ENVS: AppEnv[] = [{ app: 'shop', env: 'dev' }, { app: 'blog', env: 'dev' }];
// Both stacks' outputs point at the one test server: which stack was chosen shows in the report and in the secrets read.
const STACKS = ['KccRedisStaging', 'KccRedisProd'] as const;
const arn = (stack: string, kind: string, name: string) => secretArn(REGION, stack, kind, name);

describe('kcc-redis with an outputs file of two stacks, and least-privilege secrets', () => {
  let dir: string;
  let server: LocalRedis;
  let secrets: FakeSecretsManager;
  let outputs: string;
  let env: Record<string, string>;
  const kek = randomPassword(64);
  const secretsRead = () => secrets.mock.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-stacks-'));
    server = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    secrets = new FakeSecretsManager();
    outputs = await writeStackOutputs(dir, server, secrets, STACKS.map((name) => ({ name, region: REGION })), APP_ENVS, kek);
    env = { AWS_REGION: REGION, KCC_REDIS_CA_FILE: server.tls.caFile };
    // A ring for rotate-keys to rotate, as the first instance creates it.
    const redis = await KccRedis.connect(kccOptions(server, 'shop-dev', { heartbeat: false }));
    const ring = await KeyRing.start(redis, { keyEncryptionKey: kek, env: {} });
    await ring.close();
    await redis.close();
  });
  afterAll(async () => {
    secrets?.restore();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('status without --stack covers every stack\'s app-envs, as before; --stack narrows it', async () => {
    const all = await runCliInProcess(['status', '--outputs', outputs, '--json'], { env });
    expect(all.stderr).toBe('');
    expect(all.json<{ appEnvs: { appEnv: string }[] }>().appEnvs.map((a) => a.appEnv)).toEqual(['shop-dev', 'blog-dev', 'shop-dev', 'blog-dev']);
    const prod = await runCliInProcess(['status', '--outputs', outputs, '--stack', 'KccRedisProd', '--json'], { env });
    expect(prod.stderr).toBe('');
    expect(prod.json<{ appEnvs: { appEnv: string }[] }>().appEnvs.map((a) => a.appEnv)).toEqual(['shop-dev', 'blog-dev']);
  });

  it('check over a two-stack file says on each row which stack the app-env is in; with --stack it does not need to', async () => {
    const all = await runCliInProcess(['check', '--outputs', outputs], { env });
    expect(all.stdout).toMatch(/^shop-dev \(KccRedisStaging\) +log in as shop-dev /m);
    expect(all.stdout).toMatch(/^shop-dev \(KccRedisProd\) +log in as shop-dev /m);
    const prod = await runCliInProcess(['check', '--outputs', outputs, '--stack', 'KccRedisProd'], { env });
    expect(prod.stdout).toMatch(/^shop-dev +log in as shop-dev /m);
    expect(prod.stdout).not.toMatch(/\(KccRedisStaging\)/);
  });

  it('rotate-keys --app/--env in a two-stack file asks for --stack, naming both; with --stack it rotates', async () => {
    const ambiguous = await runCliInProcess(['rotate-keys', '--outputs', outputs, '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120000', '--yes'], { env });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('rotate-keys works on one app-env at a time; choose one with --stack <stack> (found: shop-dev (KccRedisStaging), shop-dev (KccRedisProd))');

    const rotated = await runCliInProcess(['rotate-keys', '--outputs', outputs, '--stack', 'KccRedisProd', '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120000', '--yes', '--json'], { env });
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect(rotated.json()).toMatchObject({ command: 'rotate-keys', appEnv: 'shop-dev', rotated: true });
  });

  it('an operator allowed only prod shop-dev\'s secrets rotates and revokes there; no other secret is asked for', async () => {
    const allowed = [arn('KccRedisProd', 'user', 'shop-dev'), arn('KccRedisProd', 'kek', 'shop-dev')];
    for (const stack of STACKS) {
      for (const id of APP_ENVS.flatMap((a) => [arn(stack, 'user', appEnvUserName(a)), arn(stack, 'kek', appEnvUserName(a))]).filter((id) => !allowed.includes(id))) {
        const message = `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id} because no identity-based policy allows the secretsmanager:GetSecretValue action`;
        secrets.mock.on(GetSecretValueCommand, { SecretId: id }).rejects(new SecretsManagerServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message }));
      }
    }
    secrets.mock.resetHistory();
    const target = ['--outputs', outputs, '--stack', 'KccRedisProd', '--app', 'shop', '--env', 'dev', '--yes'];
    const rotate = await runCliInProcess(['rotate-keys', ...target, '--immediate'], { env });
    expect(rotate.stderr).toBe('');
    expect(rotate.code).toBe(0);
    const revoke = await runCliInProcess(['revoke', ...target, '--sid', 'abc', '--session-max-lifetime-ms', '36000000'], { env });
    expect(revoke.stderr).toBe('');
    expect(revoke.code).toBe(0);
    expect(new Set(secretsRead())).toEqual(new Set(allowed));
    // What the operator may not read stays refused: the command that needs it says so.
    const blog = await runCliInProcess(['status', '--outputs', outputs, '--stack', 'KccRedisProd', '--app', 'blog', '--env', 'dev'], { env });
    expect(blog.code).toBe(2);
    expect(blog.stdout).toMatch(/^app-env +unreadable: could not read secret .*AccessDeniedException/m);
  });
});
