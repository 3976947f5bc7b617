import { CfnOutput, Stack } from 'aws-cdk-lib';
import { appEnvUserName, keyPrefix } from '@kcc-redis/client/contract';
import { KccStackConfigError } from './errors.js';
import type { AppEnvWithAuth } from './kcc-app.js';
import type { KccRedisCacheBase } from './kcc-redis-cache-base.js';
import { KccServerlessCache } from './kcc-serverless-cache.js';

/**
 * Version of the per-app-env output's JSON (`AppEnv<Name>`). 2: the users are grouped by how they
 * authenticate (`password`, `iam`) and the cache is described (`cache`); version 1 had
 * `username`/`secretArn` at the top and no cache facts.
 */
export const APP_ENV_OUTPUT_VERSION = 2;

/** What one app-env's instances need, as the stack outputs it (JSON, one output per app-env). */
export interface AppEnvOutput {
  readonly v: typeof APP_ENV_OUTPUT_VERSION;
  /** Key and channel prefix, `<app>-<env>:` (KCC_REDIS_PREFIX), whichever user logs in. */
  readonly keyPrefix: string;
  /** The key-encryption key of the app-env's signing keys (KCC_KEYRING_KEK_SECRET_ID). */
  readonly kekSecretArn: string;
  readonly cache: {
    /** Replication group id or serverless cache name: what IAM tokens are signed for (KCC_REDIS_IAM_CACHE_NAME). */
    readonly name: string;
    /** `serverless` means cluster mode on one endpoint, and tokens for a serverless cache (KCC_REDIS_SERVERLESS=true). */
    readonly kind: 'replication-group' | 'serverless';
    /** Whether clients connect in cluster mode. */
    readonly clusterMode: boolean;
    /** The cache's region (AWS_REGION, for signing IAM tokens). */
    readonly region: string;
  };
  /** The password user, when the app-env has one (auth "password" or "password+iam"). */
  readonly password?: {
    /** Redis user name, `<app>-<env>`. */
    readonly username: string;
    /** The user's password secret (KCC_REDIS_SECRET_ID). */
    readonly secretArn: string;
  };
  /** The IAM-authenticated user, when the app-env has one (auth "iam" or "password+iam"). */
  readonly iam?: {
    /** User id and name, `<namespace>-<app>-<env>-iam` (KCC_REDIS_USERNAME with KCC_REDIS_AUTH=iam). */
    readonly username: string;
  };
}

/**
 * One output per app-env, `AppEnv<AppEnv>` (e.g. `AppEnvMyAppProd`), holding its {@link AppEnvOutput}
 * as JSON. Not exported: an exported value cannot change while another stack imports it.
 */
export function appEnvOutputs(stack: Stack, cache: KccRedisCacheBase, appEnvs: readonly AppEnvWithAuth[]): CfnOutput[] {
  const seen = new Map<string, string>();
  const serverless = cache instanceof KccServerlessCache;
  const cacheFacts: AppEnvOutput['cache'] = {
    name: cache.cacheName,
    kind: serverless ? 'serverless' : 'replication-group',
    clusterMode: cache.clusterMode,
    region: Stack.of(cache).region,
  };
  return appEnvs.map((appEnv) => {
    const name = appEnvUserName(appEnv);
    const id = `AppEnv${name.replace(/(^|-)([a-z0-9])/g, (_m, _dash: string, c: string) => c.toUpperCase())}`;
    if (seen.has(id)) {
      throw new KccStackConfigError([`apps: app-envs "${seen.get(id)}" and "${name}" both map to output "${id}"; rename one of them`]);
    }
    seen.set(id, name);
    const passwordUser = cache.appEnvUsers.get(name);
    const iamUser = cache.iamUsers.get(name);
    const value: AppEnvOutput = {
      v: APP_ENV_OUTPUT_VERSION,
      keyPrefix: keyPrefix(appEnv),
      kekSecretArn: cache.keyEncryptionKeys.get(name)!.secret.secretArn,
      cache: cacheFacts,
      ...(passwordUser ? { password: { username: passwordUser.userName, secretArn: passwordUser.secret.secretArn } } : {}),
      ...(iamUser ? { iam: { username: iamUser.userName } } : {}),
    };
    return new CfnOutput(stack, id, { value: stack.toJsonString(value), description: `App-env ${name}: its users, secrets, key prefix and cache (JSON, v${APP_ENV_OUTPUT_VERSION})` });
  });
}
