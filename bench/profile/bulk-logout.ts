/**
 * Where the bulk-logout time goes: the revocation suite's `bulk_logout_per_s` against jose verifying
 * the same tokens, with `receivers` other instances (each in its own process; 0 leaves only the
 * handler, the replay guard and the writes). Not a suite: a profiling aid,
 * `npx tsx --conditions=kcc-redis-source bench/profile/bulk-logout.ts [receivers] [rounds]`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JWK, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { KccRedis, RedisReplayGuard, Revocations, createBackchannelLogoutHandler } from '@kcc-redis/client';
import { LocalRedis } from '../../local/local-redis.js';
import { InstancePool } from '../lib/instance-pool.js';
import { interleave, median } from '../lib/rounds.js';

const USER = 'bench-prod';
const receivers = Number(process.argv[2] ?? 15);
const rounds = Number(process.argv[3] ?? 5);
const BULK = 3_000;
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-bulk-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const host = { url: server.url, host: server.host, port: server.port, ca: server.ca, username: USER, password, channel: `${USER}:raw` };
const redis = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} }, ['subscriber']);
const a = await Revocations.start(redis);
const pool = receivers > 0 ? await InstancePool.start(receivers, 'kcc', host) : undefined;
const issuer = 'https://sso.example/realms/bench';
const { privateKey, publicKey } = await generateKeyPair('RS256');
const realmKeys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'RS256', use: 'sig' } as JWK] });
const nowS = Math.floor(Date.now() / 1000);
let n = 0;
const sign = (count: number) => Promise.all(Array.from({ length: count }, () => {
  const i = n++;
  return new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: `bulk-${i}` })
    .setProtectedHeader({ alg: 'RS256', kid: 'k', typ: 'logout+jwt' })
    .setIssuer(issuer).setAudience('bench').setSubject(`user-${i}`).setIssuedAt(nowS).setExpirationTime(nowS + 600).setJti(randomUUID()).sign(privateKey);
}));
const handler = createBackchannelLogoutHandler({ issuer, clientId: 'bench', sink: a, replayGuard: new RedisReplayGuard(redis), jwks: realmKeys });
const deliver = async (batch: readonly string[]) => {
  const responses = await Promise.all(batch.map((token) => handler({ contentType: 'application/x-www-form-urlencoded', body: `logout_token=${token}` })));
  if (responses.some((r) => r.status !== 200)) throw new Error('refused');
  await pool?.allReach(a.stats.revokedSessions);
};
const verifyAll = async (batch: readonly string[]) => {
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < batch.length) await jwtVerify(batch[next++]!, realmKeys, { issuer, audience: 'bench', algorithms: ['RS256'] });
  }));
};
const warm = await sign(1_000);
await verifyAll(warm);
await deliver(warm);
const tokens: string[][] = [];
for (let r = 0; r < rounds; r++) tokens.push(await sign(BULK));
const rate = async (fn: () => Promise<void>) => {
  const start = performance.now();
  await fn();
  return BULK / ((performance.now() - start) / 1000);
};
/** CPU time (user + system, µs) the receiving processes used so far, from /proc (Linux). */
const cpu = async () => {
  let ticks = 0;
  for (const pid of pool?.pids ?? []) {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1_000_000) / 100;
};
const mainCpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
let receiverCpu = 0;
let ownCpu = 0;
let joseCpu = 0;
/**
 * A pause before and after each side's rate is timed, inside its CPU window: what a side's work
 * leaves running once its rate is taken (A decoding its own batches as they come back, the
 * receivers' last messages, the collector's threads) is counted against that side, not the other.
 * `process.cpuUsage` counts every thread of the process. (The suite has no pauses: its rates
 * include each side's leftovers, as a sustained stream would.)
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
const result = await interleave(rounds, async (r) => {
  const [before, own] = [await cpu(), mainCpu()];
  await settle();
  const value = await rate(() => deliver(tokens[r]!));
  await settle();
  receiverCpu += (await cpu()) - before;
  ownCpu += mainCpu() - own;
  return value;
}, async (r) => {
  const own = mainCpu();
  await settle();
  const value = await rate(() => verifyAll(tokens[r]!));
  await settle();
  joseCpu += mainCpu() - own;
  return value;
});
const ratios = result.ours.map((v, i) => v / result.baseline[i]!);
console.log(`receivers ${receivers}: bulk ${median(result.ours).toFixed(0)}/s, jose ${median(result.baseline).toFixed(0)}/s, ratio ${median(ratios).toFixed(2)} [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}], batches written ${a.stats.batchesWritten}`);
console.log(`CPU per revocation: this process ${(ownCpu / (rounds * BULK)).toFixed(1)} µs (handler, writes, jose), each receiving process ${(receiverCpu / Math.max(1, receivers) / (rounds * BULK)).toFixed(1)} µs; jose alone ${(joseCpu / (rounds * BULK)).toFixed(1)} µs per token`);
await pool?.stop();
await a.close();
await redis.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
process.exit(0);
