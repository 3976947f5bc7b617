import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, type ClusterOptions } from 'ioredis';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { namespacedKey } from '@kcc-redis/client/contract';
import { shardChannel } from '../client/src/pubsub-mode.js';
import { REVOCATION_KEYS } from '../client/src/revocation/revocation-keys.js';
import { LocalCluster } from '../local/local-cluster.js';
import { InstancePool } from './lib/instance-pool.js';
import { type Metric, paired, report } from './lib/report.js';
import { revocationMessage } from './lib/revocation-message.js';
import { FRESH_PROCESSES_WARMUP_MS, ROUNDS, alternatingSamples, warmUp } from './lib/rounds.js';
import { summarize } from './lib/stats.js';

const USER = 'bench-prod';
const PREFIX = `${USER}:`;
const INSTANCES = 16;
/**
 * Samples of each side per round, after a warm-up of {@link WARMUP} pairs (half as many for the
 * context pairs); before the first round, the fresh processes' warm-up ({@link FRESH_PROCESSES_WARMUP_MS}).
 * 2,000, as in the revocation suite: `propagation_cluster_16.p99` is then the 21st slowest of a round
 * (nearest rank). With 120 it moved by up to 0.56 between consecutive runs, by 0.27 with 480, and
 * with 1,000 and the warm-up by 0.19 and 0.37 in two pairs of runs (2026-12-05).
 */
const SAMPLES = 2_000;
const WARMUP = 20;
/** The baselines' channels: the sharded one in the app-env's slot, as ours are. */
const RAW_SHARDED = namespacedKey(PREFIX, 'raw');
const RAW_CLASSIC = `${PREFIX}raw`;

/** What a host process needs (sent in its environment). */
interface HostConfig {
  readonly seed: { readonly host: string; readonly port: number };
  readonly ca: string;
  readonly username: string;
  readonly password: string;
}
type HostMessage = { t: 'ready' } | { t: 'seen'; id: string };

/** Cluster connection options of the raw baselines: TLS, the app user, like ours. */
function rawOptions(config: HostConfig, shardedSubscribers: boolean): ClusterOptions {
  return {
    redisOptions: { username: config.username, password: config.password, tls: { ca: config.ca, servername: 'localhost' }, protocol: 2, disableClientInfo: true },
    enableReadyCheck: false,
    dnsLookup: (address, callback) => callback(null, address),
    shardedSubscribers,
  };
}

/**
 * One host process = one app instance: a KccRedis in cluster mode with Revocations (ours), and beside
 * it, in the same process, the baselines' subscribers: a raw ioredis Cluster on SSUBSCRIBE and one on
 * classic SUBSCRIBE. Each reports what it saw to the parent over IPC.
 */
async function host(config: HostConfig): Promise<void> {
  // The parent gone (a run stopped or crashed), nothing would ever stop this process.
  process.on('disconnect', () => process.exit(0));
  const send = (message: HostMessage) => process.send?.(message);
  const redis = await KccRedis.connect(
    { url: `rediss://${config.seed.host}:${config.seed.port}`, tls: { ca: config.ca, servername: 'localhost' }, username: config.username, password: config.password, clusterMode: true, heartbeat: false, env: {} },
    ['subscriber'],
  );
  const revocations = await Revocations.start(redis);
  revocations.on('applied', (event) => {
    if (event.kind === 'session' && event.sid.startsWith('watch-')) send({ t: 'seen', id: event.sid });
  });
  const sharded = new Cluster([config.seed], rawOptions(config, true));
  sharded.on('smessage', (_channel: string, message: string) => send({ t: 'seen', id: message }));
  await sharded.ssubscribe(RAW_SHARDED);
  const classic = new Cluster([config.seed], rawOptions(config, false));
  classic.on('message', (_channel: string, message: string) => send({ t: 'seen', id: message }));
  await classic.subscribe(RAW_CLASSIC);
  process.on('message', (message: { t: 'stop' }) => {
    if (message.t !== 'stop') return;
    sharded.disconnect();
    classic.disconnect();
    void revocations.close().then(() => redis.close()).finally(() => process.exit(0));
  });
  send({ t: 'ready' });
}

/**
 * `propagation_cluster_16`: a revocation accepted on instance A (durable in its shard, SPUBLISHed by
 * the same script) until it is applied on 16 instances, each in its own process, seeded on the three
 * primaries in turn; baseline `raw_spublish_16`: a raw SPUBLISH until raw sharded subscribers in the
 * same 16 processes have it. `raw_publish_cluster_16`: a raw classic PUBLISH to classic subscribers in
 * the same processes (broadcast over the cluster bus to every primary), beside it for context.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-cluster-'));
  const cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = cluster.users.get(USER)!.password;
  const configs: HostConfig[] = Array.from({ length: INSTANCES }, (_, i) => ({
    seed: { host: '127.0.0.1', port: cluster.nodes[i % cluster.nodes.length]!.port }, ca: cluster.ca, username: USER, password,
  }));
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    // The host processes, seeded round-robin on the three primaries: this file, run as a host.
    const hosts = await InstancePool.fork(fileURLToPath(import.meta.url), configs.map((config) => ({ KCC_BENCH_CLUSTER_HOST: JSON.stringify(config) })));
    cleanup.push(() => hosts.stop());
    const redis = await KccRedis.connect({ url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password, clusterMode: true, heartbeat: false, env: {} });
    const a = await Revocations.start(redis);
    cleanup.push(async () => {
      await a.close();
      await redis.close();
    });
    const mode = await redis.pubSubMode();
    if (mode !== 'sharded') throw new Error(`expected sharded pub/sub on the local cluster, got ${mode}`);
    const publisher = new Cluster([configs[0]!.seed], rawOptions(configs[0]!, false));
    cleanup.push(async () => publisher.disconnect());

    let n = 0;
    const ours = async () => {
      const sid = `watch-${n++}`;
      const seen = hosts.allSee(sid);
      await a.revokeSession(sid);
      await seen;
    };
    const rawSpublish = async () => {
      const id = `s${n++}`;
      const seen = hosts.allSee(id);
      await publisher.spublish(RAW_SHARDED, id);
      await seen;
    };
    // The receivers' share: a raw SPUBLISH of the very message ours publishes (a revocation envelope)
    // on ours' channel, applied by the same 16 instances; no script, no durable write.
    const revocationChannel = shardChannel(PREFIX, `${PREFIX}${REVOCATION_KEYS.channel}`);
    const messages: [string, string][] = [];
    const rawEnvelope = async () => {
      const [sid, message] = messages.shift()!;
      const seen = hosts.allSee(sid);
      await publisher.spublish(revocationChannel, message);
      await seen;
    };
    const rawPublish = async () => {
      const id = `p${n++}`;
      const seen = hosts.allSee(id);
      await publisher.publish(RAW_CLASSIC, id);
      await seen;
    };

    const figures = { ours: [] as number[], spublish: [] as number[], oursP99: [] as number[], spublishP99: [] as number[], publish: [] as number[], spublish2: [] as number[], envelope: [] as number[], spublish3: [] as number[] };
    await warmUp(FRESH_PROCESSES_WARMUP_MS, [ours, rawSpublish]);
    for (let round = 0; round < ROUNDS; round++) {
      const [o, s] = (await alternatingSamples(SAMPLES, WARMUP, ours, rawSpublish)).map(summarize);
      figures.ours.push(o!.p50);
      figures.spublish.push(s!.p50);
      figures.oursP99.push(o!.p99);
      figures.spublishP99.push(s!.p99);
      const [p, s2] = (await alternatingSamples(SAMPLES / 2, WARMUP / 2, rawPublish, rawSpublish)).map(summarize);
      figures.publish.push(p!.p50);
      figures.spublish2.push(s2!.p50);
    }
    // The receivers' share once A is closed: subscribed, A would apply the raw revocation messages in
    // this, the measuring process, on that side only.
    await a.close();
    for (let round = 0; round < ROUNDS; round++) {
      // Built before they are timed.
      for (let i = 0; i < WARMUP / 2 + SAMPLES / 2; i++) {
        const sid = `watch-${n++}`;
        messages.push([sid, revocationMessage(sid)]);
      }
      const [e, s3] = (await alternatingSamples(SAMPLES / 2, WARMUP / 2, rawEnvelope, rawSpublish)).map(summarize);
      figures.envelope.push(e!.p50);
      figures.spublish3.push(s3!.p50);
    }

    const metrics: Metric[] = [
      paired('propagation_cluster_16.p50', 'us', { ours: figures.ours, baseline: figures.spublish }, 'raw_spublish_16.p50', { on: 'ratio', op: '<=', target: 1.2 }),
      paired('propagation_cluster_16.p99', 'us', { ours: figures.oursP99, baseline: figures.spublishP99 }, 'raw_spublish_16.p99', undefined, 'context'),
      paired('raw_publish_cluster_16.p50', 'us', { ours: figures.publish, baseline: figures.spublish2 }, 'raw_spublish_16.p50', undefined, 'context: classic PUBLISH, broadcast to every primary'),
      paired('raw_spublish_revocation_16.p50', 'us', { ours: figures.envelope, baseline: figures.spublish3 }, 'raw_spublish_16.p50', undefined, 'context: a raw SPUBLISH of a revocation message, applied by the 16 instances once A is closed, in rounds of their own (the receivers\' share of ours)'),
    ];
    report('cluster', metrics, {
      primaries: cluster.nodes.length,
      instances: INSTANCES,
      processes: 'one per instance; its raw sharded and classic baseline subscribers in the same process',
      pubSubMode: mode,
      rounds: ROUNDS,
      samplesPerRound: { propagation_cluster_16: SAMPLES, raw_spublish_16: SAMPLES, raw_publish_cluster_16: SAMPLES / 2, raw_spublish_revocation_16: SAMPLES / 2 },
    });
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const hostConfig = process.env.KCC_BENCH_CLUSTER_HOST;
if (hostConfig) await host(JSON.parse(hostConfig) as HostConfig);
