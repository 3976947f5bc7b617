/**
 * One benchmark instance in its own process, as app instances are in production: either a
 * `Revocations` instance (`kcc`) or a raw ioredis subscriber (`raw`, the baseline). It reports to the
 * parent over IPC: `ready`, `seen` (a watched revocation or message), `reached` (a count reached).
 */
import { Redis } from 'ioredis';
import { KccRedis, Revocations } from '@kcc-redis/client';

interface HostConfig {
  readonly mode: 'kcc' | 'raw';
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly ca: string;
  readonly username: string;
  readonly password: string;
  readonly channel: string;
}

type ParentMessage = { t: 'expect'; count: number } | { t: 'stop' };

const config = JSON.parse(process.env.KCC_BENCH_HOST ?? '{}') as HostConfig;
const send = (message: object) => process.send?.(message);

if (config.mode === 'raw') {
  const subscriber = new Redis({ host: config.host, port: config.port, tls: { ca: config.ca }, username: config.username, password: config.password, protocol: 2, disableClientInfo: true });
  subscriber.on('message', (_channel: string, message: string) => send({ t: 'seen', id: message }));
  await subscriber.subscribe(config.channel);
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'stop') {
      subscriber.disconnect();
      process.exit(0);
    }
  });
} else {
  const redis = await KccRedis.connect({ url: config.url, tls: { ca: config.ca }, username: config.username, password: config.password, env: {} }, ['subscriber']);
  const revocations = await Revocations.start(redis);
  revocations.on('applied', (event) => {
    if (event.kind === 'session' && event.sid.startsWith('watch-')) send({ t: 'seen', id: event.sid });
  });
  process.on('message', (message: ParentMessage) => {
    if (message.t === 'expect') {
      const check = () => (revocations.stats.revokedSessions >= message.count ? send({ t: 'reached' }) : setImmediate(check));
      check();
    } else {
      void revocations.close().then(() => redis.close()).finally(() => process.exit(0));
    }
  });
}
send({ t: 'ready' });
