/**
 * A `cdk deploy --outputs-file` of one or more stacks, for the CLI's `--outputs`: each stack's
 * app-envs with their user and key-encryption-key secrets stored in the fake Secrets Manager, every
 * endpoint the one test server.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppEnv, appEnvUserName, keyPrefix } from '../../client/src/contract/naming.js';
import { APP_ENV_OUTPUT_VERSION, type AppEnvOutput } from '../../infra/app-env-output.js';
import type { LocalRedis } from '../../local/local-redis.js';
import { afterAll, beforeAll } from 'vitest';
import { FakeSecretsManager } from './fake-secrets-manager.js';
import { startTestRedis } from './redis.js';
import { TcpProxy } from './tcp-proxy.js';

/** A stack of the file: its name, region, and the format of its app-env outputs (1: before cache.region; 2: the current one). */
export interface OutputsStack {
  readonly name: string;
  readonly region: string;
  readonly format?: 1 | 2;
}

/** The ARN a stack gives an app-env's secret (`kind`: 'user' or 'kek'). */
export const secretArn = (region: string, stack: string, kind: string, name: string) => `arn:aws:secretsmanager:${region}:123456789012:secret:${stack}-${kind}-${name}-AbCdEf`;

/** The output key of an app-env, as the stack names it (`AppEnvShopDev`). */
const outputKey = ({ app, env }: AppEnv) => `AppEnv${[app, env].map((word) => word[0]!.toUpperCase() + word.slice(1)).join('')}`;

/** Stores the secrets of `appEnvs` in each of `stacks` (the KEK secret holding `kek`) and writes the outputs file into `dir`; returns its path. */
export async function writeStackOutputs(dir: string, server: LocalRedis, secrets: FakeSecretsManager, stacks: readonly OutputsStack[], appEnvs: readonly AppEnv[], kek: string): Promise<string> {
  const file: Record<string, Record<string, string>> = {};
  for (const stack of stacks) {
    const stackOutputs: Record<string, string> = { PrimaryEndpointAddress: '127.0.0.1', PrimaryEndpointPort: String(server.port) };
    for (const appEnv of appEnvs) {
      const name = appEnvUserName(appEnv);
      const userArn = secretArn(stack.region, stack.name, 'user', name);
      const kekArn = secretArn(stack.region, stack.name, 'kek', name);
      secrets.add(userArn, JSON.stringify({ username: name, password: server.users.get(name)!.password, keyPrefix: keyPrefix(appEnv), userArn: `arn:aws:elasticache:${stack.region}:123456789012:user:${name}`, replicationGroupId: stack.name.toLowerCase() }));
      secrets.add(kekArn, JSON.stringify({ v: 1, kek, previous: [] }));
      const output =
        (stack.format ?? 2) === 2
          ? ({
              v: APP_ENV_OUTPUT_VERSION,
              keyPrefix: keyPrefix(appEnv),
              kekSecretArn: kekArn,
              cache: { name: stack.name.toLowerCase(), kind: 'replication-group', clusterMode: false, region: stack.region },
              password: { username: name, secretArn: userArn },
            } satisfies AppEnvOutput)
          : { v: 1, username: name, keyPrefix: keyPrefix(appEnv), secretArn: userArn, kekSecretArn: kekArn };
      stackOutputs[outputKey(appEnv)] = JSON.stringify(output);
    }
    file[stack.name] = stackOutputs;
  }
  const path = join(dir, 'cdk-outputs.json');
  await writeFile(path, JSON.stringify(file));
  return path;
}

/**
 * {@link writeStackOutputs}, each stack's endpoint a proxy of its own in front of `server`, so that a
 * test can hold or cut one stack's Redis; the proxies in the stacks' order (the caller stops them).
 */
export async function writeStackOutputsBehindProxies(dir: string, server: LocalRedis, secrets: FakeSecretsManager, stacks: readonly OutputsStack[], appEnvs: readonly AppEnv[], kek: string): Promise<{ outputs: string; proxies: TcpProxy[] }> {
  const proxies = await Promise.all(stacks.map(() => TcpProxy.start(server.port)));
  const outputs = await writeStackOutputs(dir, server, secrets, stacks, appEnvs, kek);
  const file = JSON.parse(await readFile(outputs, 'utf8')) as Record<string, Record<string, string>>;
  stacks.forEach((stack, i) => (file[stack.name]!.PrimaryEndpointPort = String(proxies[i]!.port)));
  await writeFile(outputs, JSON.stringify(file));
  return { outputs, proxies };
}

/** What {@link useStacksBehindProxies} sets up, filled in before the file's tests run. */
export interface StacksBehindProxies {
  server: LocalRedis;
  secrets: FakeSecretsManager;
  /** One per stack, in the stacks' order: each stack's endpoint. */
  proxies: TcpProxy[];
  /** The outputs file (`--outputs`). */
  outputs: string;
  /** What the CLI needs besides the outputs: the test server's CA. */
  env: Record<string, string>;
}

/**
 * For a test file of the CLI against several stacks: a test Redis serving `appEnvs`, the fake
 * Secrets Manager, and an outputs file of `stacks` whose endpoints are each a proxy of its own in
 * front of that Redis ({@link writeStackOutputsBehindProxies}); all of it stopped after the file.
 */
export function useStacksBehindProxies(name: string, stacks: readonly OutputsStack[], appEnvs: readonly AppEnv[]): StacksBehindProxies {
  const fixture = {} as StacksBehindProxies;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `kcc-${name}-`));
    fixture.server = await startTestRedis({ appEnvs, persistence: 'none' });
    fixture.secrets = new FakeSecretsManager();
    Object.assign(fixture, await writeStackOutputsBehindProxies(dir, fixture.server, fixture.secrets, stacks, appEnvs, 'k'.repeat(64)));
    fixture.env = { KCC_REDIS_CA_FILE: fixture.server.tls.caFile };
  });
  afterAll(async () => {
    await Promise.all((fixture.proxies ?? []).map((proxy) => proxy.stop()));
    fixture.secrets?.restore();
    await fixture.server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return fixture;
}
