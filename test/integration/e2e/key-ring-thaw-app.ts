/**
 * The app of key-ring-thaw.test.ts, in a process of its own so that the test can freeze it (SIGSTOP,
 * as AWS Lambda freezes an execution environment): a KeyRing on the connection settings docs/lambda.md
 * gives (`socketTimeoutMs` 2 s, a short `refreshIntervalMs`), configuration in KEY_RING_THAW_APP (JSON).
 * On `sign` (stdin) it prints `signed <kid of currentSigningKey()> <kids of currentJwks(), comma-separated>`;
 * `ready <active kid>` once started; closes on `exit`.
 */
import { createInterface } from 'node:readline';
import { KccRedis, KeyRing } from '../../../client/src/index.js';

interface AppConfig {
  readonly url: string;
  readonly ca: string;
  readonly username: string;
  readonly password: string;
  readonly keyEncryptionKey: string;
}

const config = JSON.parse(process.env.KEY_RING_THAW_APP!) as AppConfig;
const say = (line: string) => process.stdout.write(`${line.replace(/\n/g, ' ')}\n`);
const logger = { info: (message: string) => say(`log info ${message}`), warn: (message: string) => say(`log warn ${message}`) };
const redis = await KccRedis.connect({ url: config.url, tls: { ca: config.ca }, username: config.username, password: config.password, env: {}, logger, socketTimeoutMs: 2_000 }, ['reader']);
const ring = await KeyRing.start(redis, { keyEncryptionKey: config.keyEncryptionKey, env: {}, algorithm: 'ES256', refreshIntervalMs: 1_000 });
say(`ready ${ring.signingKey().kid}`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'sign') {
    const [key, jwks] = await Promise.all([ring.currentSigningKey(), ring.currentJwks()]);
    say(`signed ${key.kid} ${jwks.keys.map((k) => k.kid).join(',')}`);
  } else if (line.trim() === 'exit') break;
}
await ring.close();
await redis.close();
process.exit(0);
