/**
 * What one idle app instance asks of the server: the Fastify plugin registered (connection, key ring,
 * revocations, heartbeat), no requests, for `seconds`; then the commands the server ran for it, by
 * name, and the bytes both ways, per minute. On ElastiCache Serverless each command is billed at
 * least one ECPU, and one per kilobyte transferred (docs/cost.md). Not a suite: a sizing aid,
 *
 *   npx tsx --conditions=kcc-redis-source bench/profile/idle-traffic.ts [standalone|serverless] [seconds]
 *
 * `serverless`: the local three-primary TLS cluster reached with `serverless: true`, the stand-in the
 * tests use (docs/serverless.md). Commands are counted as the instance sends them (ioredis'
 * `sendCommand`, wrapped), scripts once each; the commands scripts run inside are the server's own
 * counters (INFO commandstats), and so are the bytes both ways (INFO stats), read before and after
 * through admin connections whose own commands are subtracted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { fastifyKcc } from '@kcc-redis/client/fastify';
import { LocalCluster } from '../../local/local-cluster.js';
import { LocalRedis } from '../../local/local-redis.js';
import { benchPluginOptions } from '../plugin.js';

const [mode = 'standalone', secondsText = '120'] = process.argv.slice(2);
if (!['standalone', 'serverless'].includes(mode)) throw new Error('usage: idle-traffic.ts [standalone|serverless] [seconds]');
const seconds = Number(secondsText);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-idle-'));

interface Counters { readonly calls: Map<string, number>; readonly bytesIn: number; readonly bytesOut: number }

async function counters(admins: readonly Redis[]): Promise<Counters> {
  const calls = new Map<string, number>();
  let bytesIn = 0;
  let bytesOut = 0;
  for (const admin of admins) {
    for (const [, name, count] of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(name!, (calls.get(name!) ?? 0) + Number(count));
    const stats = await admin.info('stats');
    bytesIn += Number(/total_net_input_bytes:(\d+)/.exec(stats)?.[1] ?? 0);
    bytesOut += Number(/total_net_output_bytes:(\d+)/.exec(stats)?.[1] ?? 0);
  }
  return { calls, bytesIn, bytesOut };
}

const cluster = mode === 'serverless' ? await LocalCluster.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' }) : undefined;
const server = cluster ? undefined : await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const target = (cluster ?? server)!;
const options = benchPluginOptions(target as LocalRedis);
const connection = cluster ? { ...options.connection, url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, serverless: true } : options.connection;
const sent = new Map<string, number>();
let counting = false;
type SendCommand = (this: Redis, command: { name: string }, stream?: unknown) => unknown;
const prototype = Redis.prototype as unknown as { sendCommand: SendCommand };
const send = prototype.sendCommand;
prototype.sendCommand = function (command, stream) {
  if (counting) sent.set(command.name, (sent.get(command.name) ?? 0) + 1);
  return send.call(this, command, stream);
};
const app = Fastify();
await app.register(fastifyKcc, { ...options, connection });
await app.ready();
const admins = await Promise.all((cluster ? cluster.nodes : [server!]).map((node) => node.admin()));
const before = await counters(admins);
counting = true;
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
counting = false;
const after = await counters(admins);
await app.close();
for (const admin of admins) await admin.quit();
await (cluster ?? server)!.stop();
await rm(dir, { recursive: true, force: true });

// The admin connections' own reads between the two snapshots: INFO twice per node, counted in `after`.
const own = new Map([['info', 2 * admins.length]]);
const perMinute = (n: number) => (n * 60) / seconds;
const rows = [...after.calls]
  .map(([name, count]) => [name, count - (before.calls.get(name) ?? 0) - (own.get(name) ?? 0)] as const)
  .filter(([, count]) => count > 0)
  .sort((a, b) => b[1] - a[1]);
const total = rows.reduce((sum, [, count]) => sum + count, 0);
console.log(`${mode}, ${seconds} s idle, Node.js ${process.version}`);
console.log('sent by the instance:');
const sentRows = [...sent].sort((a, b) => b[1] - a[1]);
for (const [name, count] of sentRows) console.log(`  ${name.padEnd(28)} ${perMinute(count).toFixed(1).padStart(7)} /min`);
const sentTotal = sentRows.reduce((sum, [, count]) => sum + count, 0);
console.log(`  ${'all sent'.padEnd(28)} ${perMinute(sentTotal).toFixed(1).padStart(7)} /min (${(sentTotal / seconds).toFixed(2)} /s)`);
console.log('run by the server (scripts\' own commands included):');
for (const [name, count] of rows) console.log(`  ${name.padEnd(28)} ${perMinute(count).toFixed(1).padStart(7)} /min`);
console.log(`  ${'all run'.padEnd(28)} ${perMinute(total).toFixed(1).padStart(7)} /min`);
console.log(`  bytes in ${(perMinute(after.bytesIn - before.bytesIn) / 1024).toFixed(1)} KiB/min, out ${(perMinute(after.bytesOut - before.bytesOut) / 1024).toFixed(1)} KiB/min (the admin's INFO replies included)`);
