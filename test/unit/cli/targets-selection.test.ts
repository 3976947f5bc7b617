/**
 * Which app-envs `--outputs` with `--app/--env` and `--stack` selects, and whose secrets it reads to
 * get there: only the chosen app-env's. Secrets Manager is the fake (test/support), with IAM's answer
 * to an operator allowed GetSecretValue on one app-env's secrets only: AccessDeniedException on the
 * others (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html, Errors).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedValues } from '../../../cli/args.js';
import { CliUsageError } from '../../../cli/exit-codes.js';
import type { CliIo } from '../../../cli/io.js';
import { type AppEnvTarget, isUnreadableTarget, resolveOneTarget, resolveTargets, targetArgs } from '../../../cli/targets.js';
import { APP_ENV_OUTPUT_VERSION, type AppEnvOutput } from '../../../infra/app-env-output.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';

const REGION = 'eu-west-1';
const STACKS = ['KccRedisStaging', 'KccRedisProd'] as const;
const APP_ENVS = ['shop-dev', 'blog-dev'] as const;
const arn = (stack: string, kind: string, name: string) => `arn:aws:secretsmanager:${REGION}:123456789012:secret:${stack}-${kind}-${name}-AbCdEf`;
/** The one app-env this operator may read: its user and key-encryption-key secrets. */
const ALLOWED = [arn('KccRedisProd', 'user', 'shop-dev'), arn('KccRedisProd', 'kek', 'shop-dev')];

const io: CliIo = {
  stdout: () => undefined,
  stderr: () => undefined,
  isTTY: false,
  stdinIsTTY: false,
  env: { AWS_REGION: REGION },
  ask: async () => '',
  nextStop: () => new Promise(() => undefined),
  sleep: async () => false,
  now: () => Date.now(),
};

function stackOutputs(stack: string): Record<string, string> {
  const outputs: Record<string, string> = { PrimaryEndpointAddress: `${stack.toLowerCase()}.cache.example`, PrimaryEndpointPort: '6379' };
  for (const name of APP_ENVS) {
    const output: AppEnvOutput = {
      v: APP_ENV_OUTPUT_VERSION,
      keyPrefix: `${name}:`,
      kekSecretArn: arn(stack, 'kek', name),
      cache: { name: stack.toLowerCase(), kind: 'replication-group', clusterMode: false, region: REGION },
      password: { username: name, secretArn: arn(stack, 'user', name) },
    };
    outputs[`AppEnv${name === 'shop-dev' ? 'ShopDev' : 'BlogDev'}`] = JSON.stringify(output);
  }
  return outputs;
}

describe('--outputs with --app/--env and --stack: only the chosen app-env\'s secrets are read', () => {
  let dir: string;
  let secrets: FakeSecretsManager;
  let oneStack: string;
  let twoStacks: string;
  const read = () => secrets.mock.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-targets-'));
    oneStack = join(dir, 'one-stack.json');
    twoStacks = join(dir, 'two-stacks.json');
    await writeFile(oneStack, JSON.stringify({ KccRedisProd: stackOutputs('KccRedisProd') }));
    await writeFile(twoStacks, JSON.stringify(Object.fromEntries(STACKS.map((s) => [s, stackOutputs(s)]))));
    secrets = new FakeSecretsManager();
    for (const stack of STACKS) {
      for (const name of APP_ENVS) {
        const user = arn(stack, 'user', name);
        secrets.add(user, JSON.stringify({ username: name, password: 'p'.repeat(32), keyPrefix: `${name}:`, userArn: `arn:aws:elasticache:${REGION}:123456789012:user:${name}`, replicationGroupId: stack.toLowerCase() }));
        secrets.add(arn(stack, 'kek', name), JSON.stringify({ v: 1, kek: 'k'.repeat(64), previous: [] }));
        for (const id of [user, arn(stack, 'kek', name)].filter((id) => !ALLOWED.includes(id))) {
          const message = `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id} because no identity-based policy allows the secretsmanager:GetSecretValue action`;
          secrets.mock.on(GetSecretValueCommand, { SecretId: id }).rejects(new SecretsManagerServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message }));
        }
      }
    }
  });
  afterAll(async () => {
    secrets?.restore();
    await rm(dir, { recursive: true, force: true });
  });

  const run = async <T>(values: ParsedValues, fn: (values: ParsedValues) => Promise<T>): Promise<{ result?: T; error?: unknown; read: (string | undefined)[] }> => {
    secrets.mock.resetHistory();
    try {
      return { result: await fn(values), read: read() };
    } catch (error) {
      return { error, read: read() };
    }
  };

  it('the fake refuses the other app-envs\' secrets, as IAM would', async () => {
    // status and check go on: the refused app-env is returned as unreadable, in its place.
    const all = await run({ outputs: oneStack }, (v) => resolveTargets('status', v, io));
    expect(all.error).toBeUndefined();
    expect(all.result!.map((t) => [t.name, isUnreadableTarget(t)])).toEqual([['shop-dev', false], ['blog-dev', true]]);
    const blog = all.result![1]!;
    expect(isUnreadableTarget(blog) && (blog.unreadable as Error).message).toMatch(/could not read secret "arn:aws:secretsmanager:eu-west-1:123456789012:secret:KccRedisProd-user-blog-dev-AbCdEf".*AccessDeniedException/);
  });

  it('--app shop --env dev reads shop-dev\'s secret only, never blog-dev\'s', async () => {
    const { result, error } = await run({ outputs: oneStack, app: 'shop', env: 'dev' }, (v) => resolveOneTarget('rotate-keys', v, io));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ name: 'shop-dev', stack: 'KccRedisProd', source: `--outputs ${oneStack} (KccRedisProd)` });
    expect(await result!.kek()).toMatchObject({ kek: 'k'.repeat(64) });
    expect(read()).toEqual(ALLOWED);
  });

  it('an app-env the file does not have is named with what it has, before any secret is read', async () => {
    const { error, read: asked } = await run({ outputs: oneStack, app: 'shop', env: 'prod' }, (v) => resolveTargets('status', v, io));
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(`no credentials for app-env "shop-prod" in --outputs ${oneStack}; it has: shop-dev, blog-dev`);
    expect(asked).toEqual([]);
  });

  it('two stacks in one file: --stack picks one; without it rotate-keys names both and asks for --stack, reading nothing', async () => {
    const chosen = await run({ outputs: twoStacks, app: 'shop', env: 'dev', stack: 'KccRedisProd' }, (v) => resolveOneTarget('rotate-keys', v, io));
    expect(chosen.error).toBeUndefined();
    expect(chosen.result).toMatchObject({ name: 'shop-dev', stack: 'KccRedisProd' });
    expect(chosen.read).toEqual([ALLOWED[0]]);

    const ambiguous = await run({ outputs: twoStacks, app: 'shop', env: 'dev' }, (v) => resolveOneTarget('rotate-keys', v, io));
    expect(ambiguous.error).toBeInstanceOf(CliUsageError);
    expect((ambiguous.error as Error).message).toBe(
      'rotate-keys works on one app-env at a time; choose one with --stack <stack> (found: shop-dev (KccRedisStaging), shop-dev (KccRedisProd))',
    );
    expect(ambiguous.read).toEqual([]);

    const everything = await run({ outputs: twoStacks }, (v) => resolveOneTarget('revoke', v, io));
    expect((everything.error as Error).message).toBe(
      'revoke changes state: name the app-env with --app <app> --env <env> --stack <stack> (found: shop-dev (KccRedisStaging), blog-dev (KccRedisStaging), shop-dev (KccRedisProd), blog-dev (KccRedisProd)); nothing was changed',
    );
    expect(everything.read).toEqual([]);
  });

  // From a review of today's fixes (3867940): a secret read only to name the app-env in the refusal
  // said "(credentials not read)" and not why.
  it('revoke without --app/--env: a secret that could not be read to name its app-env is shown with why, never a secret', async () => {
    const refused = arn('KccRedisProd', 'user', 'blog-dev');
    const { error } = await run({ 'secret-id': [ALLOWED[0]!, refused], url: 'rediss://kccredisprod.cache.example:6379' }, (v) => resolveOneTarget('revoke', v, io));
    expect(error).toBeInstanceOf(CliUsageError);
    const message = (error as Error).message;
    expect(message).toMatch(
      new RegExp(`^revoke changes state: name the app-env with --app <app> --env <env> \\(found: shop-dev, --secret-id ${refused} \\(credentials not read: could not read secret "${refused}".*AccessDeniedException.*\\)\\); nothing was changed$`),
    );
    expect(message).not.toContain('p'.repeat(32));
    expect(message).not.toContain('\n');
  });

  it.each([
    ['--stack without --outputs', { stack: 'KccRedisProd', 'secret-id': ['x'] }, '--stack goes with --outputs (it picks a stack of the outputs file)'],
    ['a stack the file does not have', { outputs: 'TWO', stack: 'KccRedis' }, 'no stack "KccRedis" with AppEnv outputs in --outputs TWO; it has: KccRedisStaging, KccRedisProd'],
  ])('usage error: %s', async (_name, values, message) => {
    const withFile = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === 'TWO' ? twoStacks : v])) as ParsedValues;
    const { error, read: asked } = await run(withFile, (v) => resolveTargets('status', v, io));
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(message.replace('TWO', twoStacks));
    expect(asked).toEqual([]);
  });
});

// From a review of today's fixes: the command lines the CLI suggests (revoke, rotate-keys) need
// --app/--env and the source, and must run as written in a shell.
describe('targetArgs: the options a suggested command line repeats', () => {
  const target = (name: string, sourceArgs: string[], appEnv?: { app: string; env: string }) => ({ name, sourceArgs, appEnv }) as unknown as AppEnvTarget;

  it('the app and env as the source names them, else the name split at its last hyphen (--app/--env select <app>-<env>)', () => {
    expect(targetArgs(target('my-app-pre-prod', ['--local-dir', '.kcc-local'], { app: 'my-app', env: 'pre-prod' }))).toBe('--app my-app --env pre-prod --local-dir .kcc-local');
    expect(targetArgs(target('my-app-prod', ['--outputs', 'cdk-outputs.json', '--stack', 'KccRedisProd']))).toBe('--app my-app --env prod --outputs cdk-outputs.json --stack KccRedisProd');
    expect(targetArgs(target('my-app-prod', []))).toBe('--app my-app --env prod');
    expect(targetArgs(target('standalone', ['--secret-id', arn('KccRedisProd', 'user', 'x')]))).toBe(`--app <app> --env <env> --secret-id ${arn('KccRedisProd', 'user', 'x')}`);
  });

  it('quotes what a shell would split or expand', () => {
    expect(targetArgs(target('shop-dev', ['--local-dir', "/tmp/it's here", '--url', 'rediss://h:6379'], { app: 'shop', env: 'dev' }))).toBe(`--app shop --env dev --local-dir '/tmp/it'\\''s here' --url rediss://h:6379`);
    expect(targetArgs(target('shop-dev', ['--outputs', '$HOME/out;x.json'], { app: 'shop', env: 'dev' }))).toBe(`--app shop --env dev --outputs '$HOME/out;x.json'`);
  });
});
