import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { KccRedis, type AwsCredentials, type DedicatedRole, type KccConnectionOptions } from '../../client/src/index.js';
import type { LocalRedis } from '../../local/local-redis.js';
import { type FakeClock, fakeClock } from './fake-clock.js';
import { IamProxy, type IamProxyCredential } from './iam-proxy.js';
import { startTestRedis } from './redis.js';

export const IAM_USER = 'my-app-prod';
export const IAM_CACHE = 'kcc-redis';
export const IAM_REGION = 'eu-central-1';
export const IAM_KEY_1: IamProxyCredential = { accessKeyId: 'AKIAKCCTESTKEY000001', secretAccessKey: 'kcc/test/secret/one/aaaaaaaaaaaaaaaaaaaaaaaa' };

type Credentials = AwsCredentials | ((options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>);

/** What a test of IAM auth works with: set by the hooks {@link useIamHarness} registers. */
export interface IamHarness {
  readonly server: LocalRedis;
  /** The fake wall clock the proxy and the clients sign and check tokens with (fresh for each test). */
  readonly clock: FakeClock;
  /** The ElastiCache stand-in in front of `server` (fresh for each test). */
  readonly proxy: IamProxy;
  /** A client of {@link IAM_USER} through the proxy, signing with `credentials`; closed after the test. */
  connect(extra?: Partial<KccConnectionOptions>, credentials?: Credentials, prewarm?: DedicatedRole[]): Promise<KccRedis>;
}

export interface IamHarnessOptions {
  readonly appEnvs?: readonly { readonly app: string; readonly env: string }[];
  /** The keys the proxy accepts. @default [IAM_KEY_1] */
  readonly credentials?: readonly IamProxyCredential[];
  /** The IAM users the proxy knows. @default [IAM_USER] */
  readonly iamUsers?: readonly string[];
  /** Connection options of every client, before each connect()'s own. */
  readonly connectDefaults?: Partial<KccConnectionOptions>;
}

/**
 * A real redis-server behind the IAM stand-in ({@link IamProxy}), on a fake clock: registers the
 * vitest hooks that start and stop them (the proxy and clock anew for each test) and close the
 * clients made with `connect`.
 */
export function useIamHarness(options: IamHarnessOptions = {}): IamHarness {
  let server: LocalRedis | undefined;
  let clock: FakeClock | undefined;
  let proxy: IamProxy | undefined;
  const opened: KccRedis[] = [];
  const set = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`the IAM harness's ${name} is not started: use it inside a test`);
    return value;
  };

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [...(options.appEnvs ?? [{ app: 'my-app', env: 'prod' }])], persistence: 'none' });
  });
  beforeEach(async () => {
    clock = fakeClock();
    proxy = await IamProxy.start({
      upstream: set(server, 'server'), cacheName: IAM_CACHE, region: IAM_REGION, serverless: false,
      credentials: [...(options.credentials ?? [IAM_KEY_1])], iamUsers: [...(options.iamUsers ?? [IAM_USER])], now: clock.now,
    });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((redis) => redis.close()));
    await proxy?.stop();
  });
  afterAll(async () => {
    await server?.stop();
  });

  return {
    get server() { return set(server, 'server'); },
    get clock() { return set(clock, 'clock'); },
    get proxy() { return set(proxy, 'proxy'); },
    async connect(extra = {}, credentials = IAM_KEY_1, prewarm = []) {
      const defaults = options.connectDefaults ?? {};
      const redis = await KccRedis.connect({
        url: set(proxy, 'proxy').url,
        tls: { ca: set(server, 'server').ca, servername: 'localhost' },
        auth: 'iam',
        username: IAM_USER,
        keyPrefix: `${IAM_USER}:`,
        region: IAM_REGION,
        env: {},
        ...defaults,
        ...extra,
        iam: { cacheName: IAM_CACHE, credentials, now: set(clock, 'clock').now, checkIntervalMs: 20, ...defaults.iam, ...extra.iam },
      }, prewarm);
      opened.push(redis);
      return redis;
    },
  };
}
