/**
 * Benchmark instances in their own process, as app instances are in production: either
 * `Revocations` instances (`kcc`) or raw ioredis subscribers (`raw`, the baseline), `perProcess` of
 * them (each with its own connections). It reports to the parent over IPC, once for all of its
 * instances: `ready`, `seen` (a watched revocation or message reached every instance here),
 * `reached` (every instance here holds a count of revoked sessions).
 */
import { Redis } from 'ioredis';
import { KccRedis, Revocations } from '@kcc-redis/client';

interface HostConfig {
  readonly mode: 'kcc' | 'raw' | 'kcc-sub' | 'raw-json' | 'raw-decode' | 'raw-index';
  readonly perProcess?: number;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  readonly username: string;
  readonly password: string;
  readonly channel: string;
  /** `raw-json`: the channel it reads (default: the app-env's revocation channel). */
  readonly jsonChannel?: string;
}

type ParentMessage = { t: 'expect'; count: number } | { t: 'stop' };

const config = JSON.parse(process.env.KCC_BENCH_HOST ?? '{}') as HostConfig;
// The parent gone (a run stopped or crashed), nothing would ever stop this process.
process.on('disconnect', () => process.exit(0));
const perProcess = config.perProcess ?? 1;
const send = (message: object) => process.send?.(message);

/** Counts sightings of each id; reports it once every instance here has seen it. */
const sightings = new Map<string, number>();
const saw = (id: string) => {
  const n = (sightings.get(id) ?? 0) + 1;
  if (n < perProcess) return void sightings.set(id, n);
  sightings.delete(id);
  send({ t: 'seen', id });
};

if (config.mode === 'raw-decode' || config.mode === 'raw-index') {
  const { decodeEnvelope, MAX_MESSAGE_BYTES } = await import('../../client/src/envelope.js');
  const { isRevocationBatch } = await import('../../client/src/revocation/revocation-event.js');
  const { RevocationIndex } = await import('../../client/src/revocation/revocation-index.js');
  const index = new RevocationIndex();
  const subscriber = new Redis({ host: config.host, port: config.port, tls: { ca: config.ca }, username: config.username, password: config.password, protocol: 2, disableClientInfo: true });
  subscriber.on('message', (_channel: string, message: string) => {
    const d = decodeEnvelope(message, MAX_MESSAGE_BYTES, isRevocationBatch);
    if (!d.ok) return;
    const e = d.envelope.data.revocations[0] as { sid: string; exp: number };
    if (config.mode === 'raw-index') index.revokeSession(e.sid, e.exp);
    saw(e.sid);
  });
  await subscriber.subscribe(`${config.username}:revocations`);
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'stop') process.exit(0);
  });
} else if (config.mode === 'kcc-sub' || config.mode === 'raw-json') {
  // Profiling aids (bench/profile): the revocation channel's messages, parsed, without Revocations.
  const sidOf = (message: string) => (JSON.parse(message) as { data: { revocations: { sid: string }[] } }).data.revocations[0]!.sid;
  if (config.mode === 'kcc-sub') {
    const redis = await KccRedis.connect({ url: config.url, tls: { ca: config.ca }, username: config.username, password: config.password, env: {} }, ['subscriber']);
    await redis.subscribe(redis.channel('revocations'), (message) => saw(sidOf(message)));
  } else {
    const subscriber = new Redis({ host: config.host, port: config.port, tls: { ca: config.ca }, username: config.username, password: config.password, protocol: 2, disableClientInfo: true });
    subscriber.on('message', (_channel: string, message: string) => saw(sidOf(message)));
    await subscriber.subscribe(config.jsonChannel ?? `${config.username}:revocations`);
  }
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'stop') process.exit(0);
  });
} else if (config.mode === 'raw') {
  const subscribers = await Promise.all(Array.from({ length: perProcess }, async () => {
    const subscriber = new Redis({ host: config.host, port: config.port, tls: { ca: config.ca }, username: config.username, password: config.password, protocol: 2, disableClientInfo: true });
    subscriber.on('message', (_channel: string, message: string) => saw(message));
    await subscriber.subscribe(config.channel);
    return subscriber;
  }));
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'stop') {
      subscribers.forEach((s) => s.disconnect());
      process.exit(0);
    }
  });
} else {
  // `reached` is checked once when asked, then after each event-loop turn that applied something
  // (a message): never by spinning, which would take the cores from the instances doing the work.
  let expected: number | undefined;
  let checkScheduled = false;
  const checkReached = () => {
    checkScheduled = false;
    if (expected === undefined || !instances.every((i) => i.revocations.stats.revokedSessions >= expected!)) return;
    expected = undefined;
    send({ t: 'reached' });
  };
  const instances = await Promise.all(Array.from({ length: perProcess }, async () => {
    // KCC_PROF_NO_HEARTBEAT: a profiling aid's switch (bench/profile/receive-latency.ts), never the suites'.
    const heartbeat = process.env.KCC_PROF_NO_HEARTBEAT ? { heartbeat: false } : {};
    const redis = await KccRedis.connect({ url: config.url, tls: { ca: config.ca }, username: config.username, password: config.password, env: {}, ...heartbeat }, ['subscriber']);
    // KCC_PROF_STALENESS_MS: a profiling aid's switch (receive-latency.ts), never the suites': the log is polled every third of it (5 s at most).
    const revocations = await Revocations.start(redis, process.env.KCC_PROF_STALENESS_MS ? { maxStalenessMs: Number(process.env.KCC_PROF_STALENESS_MS) } : {});
    revocations.on('applied', (event) => {
      if (event.kind === 'session' && event.sid.startsWith('watch-')) saw(event.sid);
      if (expected !== undefined && !checkScheduled) {
        checkScheduled = true;
        setImmediate(checkReached);
      }
    });
    return { redis, revocations };
  }));
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'expect') {
      expected = message.count;
      checkReached();
    } else {
      // A profiling aid (bench/profile/receive-latency.ts): how each instance's log polls went.
      if (process.env.KCC_BENCH_POLLS) console.error(`log polls: ${JSON.stringify(instances.map((i) => i.revocations.stats.logPolls))}`);
      void Promise.all(instances.map(async (i) => {
        await i.revocations.close();
        await i.redis.close();
      })).finally(() => process.exit(0));
    }
  });
}
send({ t: 'ready' });
