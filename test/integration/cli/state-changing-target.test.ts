/**
 * Which app-env `kcc-redis revoke` and `rotate-keys` change, said before they change it: both need
 * --app/--env even when the source holds a single app-env (an operator pointing at the wrong outputs
 * file or --local-dir during an incident would otherwise change the wrong environment), and their
 * confirmation and outcome name the stack (when known) and the Redis endpoint besides the app-env,
 * never the user's secret. Read-only commands keep taking every app-env the source has. On the real
 * redis-server of `kcc-redis local`, reached through its --local-dir, an --outputs file of one stack
 * (Secrets Manager the fake) and the environment.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { namespacedKey } from '../../../client/src/contract/naming.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { type CliResult, readEnvFile, runCliInProcess } from '../../support/cli.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { writeStackOutputs } from '../../support/stack-outputs.js';

const REGION = 'eu-west-1';
const STACK = 'KccRedisProd';
const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }] });

describe('kcc-redis revoke and rotate-keys: the app-env is named, and shown with its stack and endpoint', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  let secrets: FakeSecretsManager;
  let outputs: string;
  let awsEnv: Record<string, string>;
  let appEnv: Record<string, string>;
  let password: string;
  const endpoint = () => `127.0.0.1:${server.port}`;
  const local = () => ['--local-dir', dir];
  const fromOutputs = () => ['--outputs', outputs];
  const shop = ['--app', 'shop', '--env', 'dev'];
  const secretsRead = () => secrets.mock.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId);
  const revocationKeys = () => [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore, REVOCATION_KEYS.log].map((name) => namespacedKey('shop-dev:', name));
  const ring = () => admin.hgetall(namespacedKey('shop-dev:', 'keyring'));
  /** Nothing the command printed or asked carries the user's password. */
  const noSecret = (result: CliResult & { asked: readonly string[] }) => {
    for (const text of [result.stdout, result.stderr, ...result.asked]) expect(text).not.toContain(password);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-state-target-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    admin = await server.admin();
    password = server.users.get('shop-dev')!.password;
    appEnv = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    // The outputs' stack: the same server, its KEK secret holding the local one.
    secrets = new FakeSecretsManager();
    outputs = await writeStackOutputs(dir, server, secrets, [{ name: STACK, region: REGION }], [{ app: 'shop', env: 'dev' }], appEnv.KCC_KEYRING_KEK!);
    awsEnv = { AWS_REGION: REGION, KCC_REDIS_CA_FILE: server.tls.caFile };
    // The ring, as the first instance creates it.
    const redis = await KccRedis.connect({ env: appEnv, heartbeat: false });
    await (await KeyRing.start(redis, { env: appEnv })).close();
    await redis.close();
  }, 90_000);
  afterAll(async () => {
    secrets?.restore();
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['--local-dir', () => local(), {}, 'shop-dev'],
    ['--outputs (no secret read)', () => fromOutputs(), 'aws', `shop-dev (${STACK})`],
    ['the environment', () => [], 'app', 'shop-dev'],
  ] as const)('revoke without --app/--env, the source holding one app-env (%s): a usage error naming it; nothing written', async (_name, source, envName, found) => {
    const env = envName === 'aws' ? awsEnv : envName === 'app' ? appEnv : {};
    secrets.mock.resetHistory();
    const result = await runCliInProcess(['revoke', ...source(), '--sub', 'victim', '--yes'], { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(`kcc-redis revoke: revoke changes state: name the app-env with --app <app> --env <env> (found: ${found}); nothing was changed`);
    expect(await admin.exists(...revocationKeys())).toBe(0);
    if (envName === 'aws') expect(secretsRead()).toEqual([]);
    noSecret(result);
  });

  it('rotate-keys without --app/--env, one app-env in the source: the same usage error; the ring unchanged', async () => {
    const before = await ring();
    for (const [source, env, found] of [[local(), {}, 'shop-dev'], [fromOutputs(), awsEnv, `shop-dev (${STACK})`]] as const) {
      const result = await runCliInProcess(['rotate-keys', ...source, '--activation-delay-ms', '120000', '--yes'], { env });
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')[0]).toBe(`kcc-redis rotate-keys: rotate-keys changes state: name the app-env with --app <app> --env <env> (found: ${found}); nothing was changed`);
    }
    expect(await ring()).toEqual(before);
  });

  it('the environment names its app-env inside it: --app/--env of another app-env is refused, nothing written', async () => {
    const result = await runCliInProcess(['revoke', '--app', 'blog', '--env', 'dev', '--sub', 'victim', '--yes'], { env: appEnv });
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('kcc-redis revoke: no credentials for app-env "blog-dev" in the environment (KCC_REDIS_*); it has: shop-dev');
    expect(await admin.exists(...revocationKeys())).toBe(0);
  });

  it('revoke\'s confirmation names the stack and the endpoint; declined, nothing written', async () => {
    const result = await runCliInProcess(['revoke', ...fromOutputs(), ...shop, '--sub', 'victim'], { env: awsEnv, answer: 'n' });
    expect(result.code).toBe(2);
    expect(result.asked).toEqual([`revoke every token of user "victim" issued before now (by Redis' clock) in shop-dev (stack ${STACK}, endpoint ${endpoint()})\nProceed? [y/N] `]);
    expect(await admin.exists(...revocationKeys())).toBe(0);
    noSecret(result);
    // Without a stack (--local-dir), the endpoint.
    const localAsked = await runCliInProcess(['revoke', ...local(), ...shop, '--sid', 's1', '--session-max-lifetime-ms', '36000000'], { answer: 'n' });
    expect(localAsked.asked).toEqual([`revoke session "s1" in shop-dev (endpoint ${endpoint()})\nProceed? [y/N] `]);
    // Without a terminal, the refusal says it too.
    const scripted = await runCliInProcess(['revoke', ...fromOutputs(), ...shop, '--sub', 'victim'], { env: awsEnv });
    expect(scripted.stderr).toContain(`in shop-dev (stack ${STACK}, endpoint ${endpoint()}))`);
  });

  it('rotate-keys\'s confirmation names the stack, the endpoint and the delay; declined, the ring unchanged', async () => {
    const before = await ring();
    const result = await runCliInProcess(['rotate-keys', ...fromOutputs(), ...shop, '--activation-delay-ms', '600000'], { env: awsEnv, answer: 'n' });
    expect(result.code).toBe(2);
    expect(result.asked).toHaveLength(1);
    expect(result.asked[0]).toMatch(new RegExp(`^scheduled rotation \\(the new key signs in 10 min\\) of the signing keys of shop-dev \\(stack ${STACK}, endpoint 127\\.0\\.0\\.1:${server.port}\\); active key [\\w-]+\\nProceed\\? \\[y/N\\] $`));
    expect(await ring()).toEqual(before);
    noSecret(result);
  });

  it('with --yes, the outcome line names the stack and the endpoint (and the JSON document has them)', async () => {
    const revoked = await runCliInProcess(['revoke', ...fromOutputs(), ...shop, '--sub', 'victim', '--yes'], { env: awsEnv });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^shop-dev \\(stack ${STACK}, endpoint 127\\.0\\.0\\.1:${server.port}\\): done, every token of user "victim" issued before \\S+: written to Redis`));
    noSecret(revoked);
    const revokedLocally = await runCliInProcess(['revoke', ...local(), ...shop, '--all-before', 'now', '--yes', '--json']);
    expect(revokedLocally.code).toBe(0);
    expect(revokedLocally.json()).toMatchObject({ command: 'revoke', appEnv: 'shop-dev', endpoint: endpoint(), kind: 'client' });
    expect(revokedLocally.json()).not.toHaveProperty('stack');

    const rotated = await runCliInProcess(['rotate-keys', ...fromOutputs(), ...shop, '--activation-delay-ms', '120000', '--yes'], { env: awsEnv });
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(new RegExp(`^shop-dev \\(stack ${STACK}, endpoint 127\\.0\\.0\\.1:${server.port}\\): new key [\\w-]+ published, signs from `));
    noSecret(rotated);
    const rotatedJson = await runCliInProcess(['rotate-keys', ...fromOutputs(), ...shop, '--immediate', '--yes', '--json'], { env: awsEnv });
    expect(rotatedJson.json()).toMatchObject({ command: 'rotate-keys', appEnv: 'shop-dev', stack: STACK, endpoint: endpoint(), rotated: true });
  });

  // From a review of today's fixes: a hint's command line needs --app/--env (3867940) and the
  // source; with --outputs, the app-env's stack (and --region, as given).
  it('rotate-keys\'s hint names the app-env, the outputs file with the stack and the region, and runs as written', async () => {
    const scheduled = [...fromOutputs(), '--region', REGION, ...shop, '--activation-delay-ms', '600000', '--yes'];
    await runCliInProcess(['rotate-keys', ...scheduled], { env: awsEnv });
    const again = await runCliInProcess(['rotate-keys', ...scheduled], { env: awsEnv });
    expect(again.code).toBe(0);
    const hint = `to replace it now, kcc-redis rotate-keys --app shop --env dev --outputs ${outputs} --stack ${STACK} --region ${REGION} --immediate.`;
    expect(again.stdout.endsWith(hint)).toBe(true);
    const immediate = await runCliInProcess([...hint.slice('to replace it now, kcc-redis '.length, -'.'.length).split(' '), '--yes'], { env: awsEnv });
    expect(immediate.code).toBe(0);
    expect(immediate.stdout).toMatch(/: new key [\w-]+ published, signs now; /);
    noSecret(again);
  });

  it('read-only commands keep taking every app-env the source has', async () => {
    const status = await runCliInProcess(['status', ...local(), '--json']);
    expect(status.code).toBe(0);
    expect(status.json<{ appEnvs: { appEnv: string }[] }>().appEnvs.map((a) => a.appEnv)).toEqual(['shop-dev']);
  });
});
