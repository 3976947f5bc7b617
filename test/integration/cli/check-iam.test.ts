/**
 * `kcc-redis check` for an app-env whose user authenticates with IAM: the probes log in with a
 * token signed by the operator's AWS credentials (the SDK's default chain, here from the
 * environment), through the ElastiCache IAM stand-in (test/support/iam-proxy.ts) in front of the
 * real redis-server. The app-env comes from a stack outputs file in the stack's format.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ENV_OUTPUT_VERSION, type AppEnvOutput } from '../../../infra/app-env-output.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { runCliInProcess } from '../../support/cli.js';
import { IamProxy, type IamProxyCredential } from '../../support/iam-proxy.js';
import { startTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';
const CACHE = 'kcc-redis';
const REGION = 'eu-central-1';
const OPERATOR: IamProxyCredential = { accessKeyId: 'AKIAKCCCHECKOPERATOR', secretAccessKey: 'kcc/check/operator/secret/cccccccccccccccccccc' };
const AWS_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'] as const;

type Report = { exitCode: number; appEnvs: { appEnv: string; results: { probe: string; status: string; detail: string }[] }[] };

describe('kcc-redis check with IAM authentication', () => {
  let dir: string;
  let server: LocalRedis;
  let proxy: IamProxy;
  let outputs: string;
  const saved = new Map<string, string | undefined>();

  beforeAll(async () => {
    for (const name of AWS_ENV) saved.set(name, process.env[name]);
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;
    process.env.AWS_ACCESS_KEY_ID = OPERATOR.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = OPERATOR.secretAccessKey;
    dir = await mkdtemp(join(tmpdir(), 'kcc-check-iam-'));
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }, { app: 'other-app', env: 'prod' }], persistence: 'none' });
    proxy = await IamProxy.start({ upstream: server, cacheName: CACHE, region: REGION, serverless: false, credentials: [OPERATOR], iamUsers: [USER] });
    const output: AppEnvOutput = {
      v: APP_ENV_OUTPUT_VERSION,
      keyPrefix: `${USER}:`,
      kekSecretArn: `arn:aws:secretsmanager:${REGION}:123456789012:secret:kek-${USER}-AbCdEf`,
      cache: { name: CACHE, kind: 'replication-group', clusterMode: false, region: REGION },
      iam: { username: USER },
    };
    outputs = join(dir, 'cdk-outputs.json');
    await writeFile(outputs, JSON.stringify({ KccRedis: { PrimaryEndpointAddress: '127.0.0.1', PrimaryEndpointPort: String(proxy.port), AppEnvMyAppProd: JSON.stringify(output) } }));
  });
  afterAll(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await proxy?.stop();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const check = () => runCliInProcess(['check', '--outputs', outputs, '--json'], { env: { KCC_REDIS_CA_FILE: server.tls.caFile } });

  it('every probe passes, the user logging in with a token signed by the operator\'s credentials', async () => {
    const before = proxy.logins.length;
    const result = await check();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [appEnv] = result.json<Report>().appEnvs;
    expect(appEnv!.results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(appEnv!.results.map((r) => r.probe)).toEqual(expect.arrayContaining([
      'TLS', 'unauthenticated command refused', `log in as ${USER}`, 'own namespace: keys', 'own namespace: channel', 'refused: CONFIG GET', 'one-argument AUTH refused', expect.stringMatching(/^refused outside: /),
    ]));
    const logins = proxy.logins.slice(before);
    expect(logins.length).toBeGreaterThan(0);
    expect(logins.every((l) => l.user === USER && l.accessKeyId === OPERATOR.accessKeyId)).toBe(true);
  });

  it('credentials the cache does not accept: the login probe fails (exit 1), and nothing secret is printed', async () => {
    proxy.setCredentials([{ accessKeyId: 'AKIAKCCSOMEONEELSE00', secretAccessKey: 'x'.repeat(40) }]);
    try {
      const result = await check();
      expect(result.code).toBe(1);
      const [appEnv] = result.json<Report>().appEnvs;
      expect(appEnv!.results).toContainEqual(expect.objectContaining({ probe: `log in as ${USER}`, status: 'fail' }));
      const printed = result.stdout + result.stderr;
      expect(printed).not.toContain(OPERATOR.secretAccessKey);
      expect(printed).not.toContain('X-Amz-Signature');
      expect(proxy.refusals.at(-1)).toMatch(/credential|key/i);
    } finally {
      proxy.setCredentials([OPERATOR]);
    }
  });
});
