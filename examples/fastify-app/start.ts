import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { LocalRedis } from '../../local/local-redis.js';
import { buildApp, shutDown } from './app.js';
import { DemoIdp } from './demo-idp.js';

const APP_ENV = { app: 'example', env: 'dev' } as const;
const CLIENT_ID = 'demo-app';

/** Options of {@link startExample}. */
export interface StartExampleOptions {
  /** Folder of the local Redis (config, TLS material, log). @default '.kcc-local/example' */
  readonly dir?: string;
}

/** A running example: the local Redis, the demo identity provider, instances A and B. */
export interface RunningExample {
  readonly redis: LocalRedis;
  readonly idp: DemoIdp;
  readonly instances: readonly [{ readonly url: string; readonly app: FastifyInstance }, { readonly url: string; readonly app: FastifyInstance }];
  /** What to try, as shell lines. */
  readonly instructions: readonly string[];
  /** Drains the instances for `drainMs` and closes them (docs/shutdown.md), then stops the identity provider and Redis. */
  stop(drainMs?: number): Promise<void>;
}

/**
 * Starts the ElastiCache-like local Redis (TLS, the stack's ACL user `example-dev`), the demo
 * identity provider and two instances of the example app on two free ports. The back-channel
 * logout goes to instance A only, as from Keycloak to whichever instance a load balancer picks.
 *
 * @example
 * const example = await startExample({ dir: '.kcc-local/example' });
 * console.log(example.instructions.join('\n'));
 * await example.stop();
 */
export async function startExample(options: StartExampleOptions = {}): Promise<RunningExample> {
  // No persistence and a fresh key-encryption key per run: every run starts from an empty namespace.
  const redis = await LocalRedis.start({ dir: resolve(options.dir ?? '.kcc-local/example'), appEnvs: [APP_ENV], persistence: 'none' });
  const user = [...redis.users.values()][0]!;
  const keyEncryptionKey = randomBytes(32).toString('base64url');
  const connection = { url: redis.url, tls: { ca: redis.ca }, username: user.username, password: user.password, env: {} };
  let backchannelLogoutUrl = '';
  const started: { url: string; app: FastifyInstance }[] = [];
  let idp: DemoIdp | undefined;
  const stop = async (drainMs = 0) => {
    await Promise.all(started.map(({ app }) => shutDown(app, drainMs)));
    await idp?.stop();
    await redis.stop();
  };
  try {
    idp = await DemoIdp.start({ clientId: CLIENT_ID, backchannelLogoutUrl: () => backchannelLogoutUrl });
    for (const name of ['A', 'B']) {
      const app = await buildApp({ name, issuer: idp.issuer, clientId: CLIENT_ID, connection, keyEncryptionKey });
      started.push({ app, url: await app.listen({ port: 0, host: '127.0.0.1' }) });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const [a, b] = started as [{ url: string; app: FastifyInstance }, { url: string; app: FastifyInstance }];
  backchannelLogoutUrl = `${a.url}/backchannel-logout`;
  return { redis, idp, instances: [a, b], instructions: instructions(a.url, b.url, idp.url, redis), stop };
}

function instructions(a: string, b: string, idp: string, redis: LocalRedis): string[] {
  const bearer = '-H "Authorization: Bearer $TOKEN"';
  return [
    'kcc-redis Fastify example: two instances of one app, in sync through a local ElastiCache-like Redis',
    `  instance A   ${a}`,
    `  instance B   ${b}`,
    `  Redis        ${redis.url} (TLS, ACL user ${APP_ENV.app}-${APP_ENV.env}, files in ${redis.logFile.replace(/\/redis\.log$/, '')})`,
    `  demo IdP     ${idp}   (DEMO ONLY: stands in for Keycloak; logs anyone in, no password)`,
    '',
    '# 1. Both instances serve the same JWKS (same keys, same ETag):',
    `curl -si ${a}/.well-known/jwks.json`,
    `curl -si ${b}/.well-known/jwks.json`,
    '# 2. Log in at the demo IdP (a new session), then call both instances with the token:',
    `TOKEN=$(curl -s -X POST ${idp}/demo/login)`,
    `curl -s ${bearer} ${a}/api/me; echo`,
    `curl -s ${bearer} ${b}/api/me; echo`,
    '# 3. Log out at the IdP: it sends an OIDC back-channel logout to instance A only ...',
    `curl -s -X POST ${bearer} ${idp}/demo/logout`,
    '#    ... and instance B refuses the session too (401 token revoked):',
    `curl -s ${bearer} ${b}/api/me; echo`,
    '# 4. Or the app\'s own logout, on B, with a new session; A refuses it:',
    `TOKEN=$(curl -s -X POST ${idp}/demo/login)`,
    `curl -s -X POST ${bearer} ${b}/logout`,
    `curl -s ${bearer} ${a}/api/me; echo`,
    '',
    'Ctrl-C stops everything.',
  ];
}
