/**
 * The app of lambda-freeze.test.ts, in a process of its own so that the test can freeze it (SIGSTOP)
 * as AWS Lambda freezes an execution environment between invocations. A Fastify app with the plugin
 * (configuration in LAMBDA_FREEZE_APP, JSON) and two routes:
 * - `GET /me`: requireNotRevoked, the claims read from the `x-test-claims` header (JSON);
 * - `GET /assertion`: signs a client assertion through `app.kcc.clientAuth` and answers its `kid`.
 * Prints `ready <base url>` once listening, `log <level> <message>` for the client's log lines, and
 * closes on `exit` (stdin).
 */
import { createInterface } from 'node:readline';
import Fastify from 'fastify';
import { decodeProtectedHeader } from 'jose';
import type { KeyRingOptions, RevocationClaims } from '../../../client/src/index.js';
import { fastifyKcc, requireNotRevoked } from '../../../client/src/fastify/index.js';

interface AppConfig {
  readonly url: string;
  readonly ca: string;
  readonly username: string;
  readonly password: string;
  readonly connectionName: string;
  readonly maxStalenessMs: number;
  readonly keyRing: KeyRingOptions;
}

const config = JSON.parse(process.env.LAMBDA_FREEZE_APP!) as AppConfig;
const say = (line: string) => process.stdout.write(`${line.replace(/\n/g, ' ')}\n`);
const logger = { info: (message: string) => say(`log info ${message}`), warn: (message: string) => say(`log warn ${message}`) };
const issuer = 'https://sso.example.com/realms/shop';

const app = Fastify();
app.get('/me', { preHandler: requireNotRevoked((request) => JSON.parse(request.headers['x-test-claims'] as string) as RevocationClaims, { staleWaitMs: 10_000 }) }, async () => ({ ok: true }));
app.get('/assertion', async () => {
  const body = new URLSearchParams();
  await app.kcc.clientAuth({ issuer }, { client_id: 'shop' }, body, new Headers());
  return { kid: decodeProtectedHeader(body.get('client_assertion')!).kid };
});
await app.register(fastifyKcc, {
  issuer,
  clientId: 'shop',
  connection: { url: config.url, tls: { ca: config.ca }, username: config.username, password: config.password, connectionName: config.connectionName, env: {} },
  keyRing: config.keyRing,
  revocations: { maxStalenessMs: config.maxStalenessMs },
  logger,
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
say(`ready ${url}`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'exit') break;
}
await app.close();
process.exit(0);
