import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { namespacedChannel, namespacedKey } from '@kcc-redis/client/contract';
import { type ProbeEndpoint, openProbe } from './endpoint.js';
import type { ProbeResult } from './probe-result.js';

/**
 * The probes that log in or try to. None can harm data, even against a user someone widened to
 * `+@all`: refusals are probed with harmless commands (CONFIG GET, KEYS on a random pattern,
 * CLIENT LIST, reads of random keys, SUBSCRIBE), never FLUSH*, DEBUG or SHUTDOWN; writes go only to
 * random keys in the user's own namespace, with an expiry, and are deleted after.
 */

const random = () => `kcc-check:${randomBytes(8).toString('hex')}`;
const first = (error: unknown) => (error instanceof Error ? error.message.split('\n')[0]! : String(error));
const isNoPerm = (error: unknown) => error instanceof Error && /^NOPERM\b/.test(error.message);
const isWrongPass = (error: unknown) => error instanceof Error && /^(WRONGPASS|ERR AUTH|ERR invalid password)/.test(error.message);

async function withProbe<T>(endpoint: ProbeEndpoint, use: (client: Redis | Cluster) => Promise<T>, auth?: { username: string; password: string }, cluster = false): Promise<T> {
  const client = await openProbe(endpoint, auth, { cluster });
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** Before AUTH: a command is refused, and the default user cannot log in (with a wrong password, with its own, or through the one-argument AUTH). */
export async function probeAnonymous(endpoint: ProbeEndpoint, defaultUserPassword: string | undefined): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const noAuth = await withProbe(endpoint, (c) => c.call('PING').then((reply) => ({ ok: true, reply }), (error: unknown) => ({ ok: false, reply: first(error) })));
  results.push(
    !noAuth.ok && /^NOAUTH/.test(String(noAuth.reply))
      ? { probe: 'unauthenticated command refused', status: 'pass', detail: String(noAuth.reply) }
      : { probe: 'unauthenticated command refused', status: 'fail', detail: noAuth.ok ? 'PING without AUTH was answered: the connection starts logged in (default user on without a password?)' : `unexpected reply: ${String(noAuth.reply)}` },
  );
  const attempts: [string, string[]][] = [
    ['default user cannot log in (wrong password)', ['AUTH', 'default', randomBytes(24).toString('hex')]],
    ['one-argument AUTH refused', ['AUTH', randomBytes(24).toString('hex')]],
  ];
  if (defaultUserPassword !== undefined) attempts.push(['default user cannot log in (its own password)', ['AUTH', 'default', defaultUserPassword]]);
  for (const [probe, command] of attempts) {
    const outcome = await withProbe(endpoint, (c) => c.call(command[0]!, ...command.slice(1)).then(() => 'accepted', (error: unknown) => (isWrongPass(error) ? 'refused' : first(error))));
    results.push(
      outcome === 'refused'
        ? { probe, status: 'pass', detail: 'WRONGPASS' }
        : { probe, status: 'fail', detail: outcome === 'accepted' ? 'AUTH was accepted: the default user can log in' : `unexpected reply: ${outcome}` },
    );
  }
  return results;
}

/** What {@link probeUser} needs: the user, its namespace, and other namespaces it must not reach. */
export interface UserProbe {
  readonly endpoint: ProbeEndpoint;
  readonly username: string;
  readonly password: string;
  readonly keyPrefix: string;
  /** Prefixes of other app-envs (`other-prod:`); a random one is always added. */
  readonly otherPrefixes: readonly string[];
}

/** Logs in as the app user and probes its namespace, what lies outside it, dangerous commands, and round-trip latency. */
export async function probeUser(p: UserProbe): Promise<ProbeResult[]> {
  const auth = { username: p.username, password: p.password };
  let client: Redis | Cluster;
  try {
    client = await openProbe(p.endpoint, auth, { cluster: p.endpoint.clusterMode });
  } catch (error) {
    return [{ probe: `log in as ${p.username}`, status: 'fail', detail: `${first(error)}: the credentials are refused` }];
  }
  const results: ProbeResult[] = [{ probe: `log in as ${p.username}`, status: 'pass', detail: 'AUTH accepted' }];
  try {
    results.push(await probeOwnKeys(client, p.keyPrefix), await probeOwnScript(client, p.keyPrefix), await probeOwnChannel(p, auth, client));
    results.push(...(await probeOutside(p, auth, client)), ...(await probeDangerous(client)), await probeLatency(client));
  } finally {
    client.disconnect();
  }
  return results;
}

async function probeOwnKeys(client: Redis | Cluster, prefix: string): Promise<ProbeResult> {
  const key = namespacedKey(prefix, random());
  const value = randomBytes(8).toString('hex');
  try {
    const set = await client.set(key, value, 'PX', 60_000, 'NX');
    const got = await client.get(key);
    const deleted = await client.del(key);
    const ok = set === 'OK' && got === value && deleted === 1;
    return { probe: 'own namespace: keys', status: ok ? 'pass' : 'fail', detail: ok ? `SET/GET/DEL on ${prefix}…` : `SET ${String(set)}, GET ${got === value ? 'ok' : 'wrong value'}, DEL ${deleted}` };
  } catch (error) {
    await client.del(key).catch(() => undefined);
    return { probe: 'own namespace: keys', status: 'fail', detail: first(error) };
  }
}

async function probeOwnScript(client: Redis | Cluster, prefix: string): Promise<ProbeResult> {
  const key = namespacedKey(prefix, random());
  const value = randomBytes(8).toString('hex');
  try {
    const got = await client.eval("redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000) return redis.call('GET', KEYS[1])", 1, key, value);
    await client.del(key);
    return { probe: 'own namespace: script', status: got === value ? 'pass' : 'fail', detail: got === value ? 'EVAL with a key in the namespace' : `EVAL returned ${JSON.stringify(got)}` };
  } catch (error) {
    await client.del(key).catch(() => undefined);
    return { probe: 'own namespace: script', status: 'fail', detail: first(error) };
  }
}

async function probeOwnChannel(p: UserProbe, auth: { username: string; password: string }, publisher: Redis | Cluster): Promise<ProbeResult> {
  const channel = namespacedChannel(p.keyPrefix, random());
  try {
    return await withProbe(p.endpoint, async (subscriber) => {
      const received = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5_000);
        subscriber.on('message', (ch: string) => {
          if (ch === channel) {
            clearTimeout(timer);
            resolve(true);
          }
        });
      });
      await subscriber.subscribe(channel);
      await publisher.publish(channel, 'kcc-redis check');
      const ok = await received;
      return { probe: 'own namespace: channel', status: ok ? 'pass' : 'fail', detail: ok ? `SUBSCRIBE/PUBLISH on ${p.keyPrefix}…` : 'the message published on its own channel did not arrive' } satisfies ProbeResult;
    }, auth);
  } catch (error) {
    return { probe: 'own namespace: channel', status: 'fail', detail: first(error) };
  }
}

/** Reads of random keys, a read-only script and a SUBSCRIBE outside the namespace: each must be NOPERM. */
async function probeOutside(p: UserProbe, auth: { username: string; password: string }, client: Redis | Cluster): Promise<ProbeResult[]> {
  const prefixes = [...new Set([...p.otherPrefixes.filter((o) => o !== p.keyPrefix), `kcc-check-${randomBytes(4).toString('hex')}:`])];
  const results: ProbeResult[] = [];
  for (const other of prefixes) {
    const key = namespacedKey(other, random());
    const attempts: [string, () => Promise<unknown>][] = [
      ['GET', () => client.get(key)],
      ['EVAL', () => client.eval("return redis.call('GET', KEYS[1])", 1, key)],
      ['SUBSCRIBE', () => withProbe(p.endpoint, (s) => s.subscribe(namespacedChannel(other, random())), auth)],
    ];
    const allowed: string[] = [];
    const odd: string[] = [];
    for (const [name, attempt] of attempts) {
      await attempt().then(
        () => allowed.push(name),
        (error: unknown) => (isNoPerm(error) ? undefined : odd.push(`${name}: ${first(error)}`)),
      );
    }
    const probe = `refused outside: ${other}…`;
    if (allowed.length > 0) results.push({ probe, status: 'fail', detail: `${allowed.join(', ')} allowed outside the namespace ${p.keyPrefix}` });
    else if (odd.length > 0) results.push({ probe, status: 'fail', detail: `not NOPERM: ${odd.join('; ')}` });
    else results.push({ probe, status: 'pass', detail: 'GET, EVAL and SUBSCRIBE: NOPERM' });
  }
  return results;
}

/** Harmless stand-ins for dangerous commands: each must be NOPERM. */
async function probeDangerous(client: Redis | Cluster): Promise<ProbeResult[]> {
  const attempts: [string, () => Promise<unknown>][] = [
    ['CONFIG GET', () => client.call('CONFIG', 'GET', 'maxmemory')],
    ['KEYS', () => client.call('KEYS', `kcc-check-${randomBytes(8).toString('hex')}*`)],
    ['CLIENT LIST', () => client.call('CLIENT', 'LIST')],
  ];
  const results: ProbeResult[] = [];
  for (const [name, attempt] of attempts) {
    const probe = `refused: ${name}`;
    results.push(
      await attempt().then(
        (): ProbeResult => ({ probe, status: 'fail', detail: `${name} is allowed: the access string was widened (it denies @dangerous and KEYS)` }),
        (error: unknown): ProbeResult => (isNoPerm(error) ? { probe, status: 'pass', detail: 'NOPERM' } : { probe, status: 'fail', detail: `not NOPERM: ${first(error)}` }),
      ),
    );
  }
  return results;
}

async function probeLatency(client: Redis | Cluster, rounds = 20): Promise<ProbeResult> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await client.ping();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
  return { probe: 'round trip (PING)', status: 'pass', detail: `median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${times.at(-1)!.toFixed(2)} ms over ${rounds}` };
}
