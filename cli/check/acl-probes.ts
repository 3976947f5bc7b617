import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { namespacedChannel, namespacedKey } from '@kcc-redis/client/contract';
import { clusterModeRefusal } from '../../client/src/connect-failure.js';
import { type ProbeEndpoint, openProbe } from './endpoint.js';
import type { ProbeResult } from './probe-result.js';

/**
 * The probes that log in or try to. None can harm data, even against a user someone widened to
 * `+@all`: refusals are probed with harmless commands (CONFIG GET, KEYS on a random pattern,
 * CLIENT LIST, reads of random keys, a DEL of a random key that does not exist, SUBSCRIBE), never
 * FLUSH*, DEBUG or SHUTDOWN; writes go only to random keys in the user's own namespace, with an
 * expiry, and are deleted after.
 */

const random = () => `kcc-check:${randomBytes(8).toString('hex')}`;
const first = (error: unknown) => (error instanceof Error ? error.message.split('\n')[0]! : String(error));
const isNoPerm = (error: unknown) => error instanceof Error && /^NOPERM\b/.test(error.message);
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What a server on which the command does not exist at all answers it, when the reply is exactly
 * that: `unknown command` for the command, or (a container command without this subcommand)
 * `unknown subcommand`; undefined for any other reply (NOPERM, a syntax error, anything else).
 *
 * Redis looks a command up before it checks the ACL (processCommand: `unknown command '%.128s',
 * with args beginning with: …`, `unknown subcommand '%.128s'. Try %s HELP.`; Redis 6 quoted with
 * backticks), so where a command is not there every user, the app user included, gets that reply
 * instead of NOPERM. ElastiCache makes CONFIG unavailable on every cache
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.RestrictedCommands.html:
 * "the following commands are unavailable: … config …"); a serverless cache supports only the
 * commands on its list (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SupportedCommands.html),
 * which has neither KEYS (among its Generic Commands: SCAN, no KEYS; an AWS answer on re:Post says
 * "the KEYS * command is unavailable for Serverless caches",
 * https://repost.aws/questions/QUVJ3PbTE8RXmmhsDNJq8Oig/redis-cache-serverless-keys) nor CLIENT LIST
 * (its Connection Management Commands: CLIENT GETNAME, CLIENT REPLY, CLIENT SETNAME). What a
 * serverless cache answers those AWS does not document: a reply other than these two stays a failed
 * probe that shows it, never a pass.
 */
export function unavailableReply(error: unknown, command: readonly string[]): string | undefined {
  if (!(error instanceof Error) || command.length === 0) return undefined;
  const quoted = (word: string) => `[\`']${escapeRegExp(word)}[\`']`;
  const name = command[0]!;
  if (new RegExp(`^ERR unknown command ${quoted(name)}, with args beginning with: `, 'i').test(error.message)) return `unknown command '${name}'`;
  const sub = command[1];
  if (sub !== undefined && new RegExp(`^ERR unknown subcommand ${quoted(sub)}\\. Try ${escapeRegExp(name)} HELP\\.$`, 'i').test(error.message)) return `unknown subcommand '${name} ${sub}'`;
  return undefined;
}

/**
 * How an AUTH was refused, by the kind of reply (never the reply itself: it is compared, not shown):
 * `WRONGPASS` (a wrong password, or a user that is off); `ERR AUTH <password> called without any
 * password configured for the default user` (Redis' answer to one-argument AUTH when the default
 * user has no password, `nopass`: with it on, anyone is logged in); `ERR invalid password` (Redis
 * before 6). Undefined for any other reply.
 */
function authRefusal(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (/^WRONGPASS\b/.test(error.message)) return 'WRONGPASS';
  if (/^ERR AUTH <password> called without any password configured for the default user/.test(error.message)) {
    return 'ERR AUTH <password> called without any password configured for the default user (it has no password: on, it lets anyone in)';
  }
  if (/^ERR invalid password\b/.test(error.message)) return 'ERR invalid password';
  return undefined;
}

/**
 * Why a login probe failed: refused credentials only when the server said so; in cluster mode the
 * node's own error (ioredis reports "Failed to refresh slots cache"), e.g. a user that may not run
 * CLUSTER SLOTS, which is no wrong password.
 */
function loginFailure(error: unknown): string {
  const cause = error instanceof Error ? ((error as { lastNodeError?: Error }).lastNodeError ?? error) : error;
  if (cause instanceof Error) {
    const clusterMode = clusterModeRefusal(cause);
    if (clusterMode) return clusterMode;
    if (authRefusal(cause) !== undefined || /^(NOAUTH|WRONGPASS)\b/.test(cause.message)) return `${first(cause)}: the credentials are refused`;
  }
  return `${first(cause)}: could not log in`;
}

async function withProbe<T>(endpoint: ProbeEndpoint, use: (client: Redis | Cluster) => Promise<T>, auth?: { username: string; password: string }, cluster = false): Promise<T> {
  const client = await openProbe(endpoint, auth, { cluster });
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Before AUTH: a command is refused, a random password is refused for the default user and through
 * the one-argument AUTH, and (locally, where its password is known) the default user cannot log in
 * with its own. The random password shows only that: a default user switched on with a password
 * passes it too; drift compares the default user's state.
 */
export async function probeAnonymous(endpoint: ProbeEndpoint, defaultUserPassword: string | undefined): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const noAuth = await withProbe(endpoint, (c) => c.call('PING').then((reply) => ({ ok: true, reply }), (error: unknown) => ({ ok: false, reply: first(error) })));
  results.push(
    !noAuth.ok && /^NOAUTH/.test(String(noAuth.reply))
      ? { probe: 'unauthenticated command refused', status: 'pass', detail: String(noAuth.reply) }
      : { probe: 'unauthenticated command refused', status: 'fail', detail: noAuth.ok ? 'PING without AUTH was answered: the connection starts logged in (default user on without a password?)' : `unexpected reply: ${String(noAuth.reply)}` },
  );
  const attempts: [string, string[], string][] = [
    ['default user: a random password refused', ['AUTH', 'default', randomBytes(24).toString('hex')], '; whether the default user is off, drift tells'],
    ['one-argument AUTH refused', ['AUTH', randomBytes(24).toString('hex')], ''],
  ];
  if (defaultUserPassword !== undefined) attempts.push(['default user cannot log in (its own password)', ['AUTH', 'default', defaultUserPassword], '']);
  for (const [probe, command, note] of attempts) {
    const outcome = await withProbe(endpoint, (c) =>
      c.call(command[0]!, ...command.slice(1)).then(
        () => ({ accepted: true as const }),
        (error: unknown) => ({ accepted: false as const, refusal: authRefusal(error), reply: first(error) }),
      ),
    );
    if (outcome.accepted) results.push({ probe, status: 'fail', detail: 'AUTH was accepted: the default user can log in' });
    else if (outcome.refusal !== undefined) results.push({ probe, status: 'pass', detail: `${outcome.refusal}${note}` });
    // The reply may echo the password sent (a server without AUTH: "unknown command 'AUTH', with args beginning with: …"); check.ts redacts the report.
    else results.push({ probe, status: 'fail', detail: `unexpected reply: ${outcome.reply}` });
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
    return [{ probe: `log in as ${p.username}`, status: 'fail', detail: loginFailure(error) }];
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

/**
 * Outside the namespace, each must be NOPERM: a read (GET), a write (DEL: a random key name that
 * does not exist, so that a user allowed to write there deletes nothing; a write-only pattern such
 * as `%W~*` refuses every read and allows it), a script (EVAL of a GET) and a SUBSCRIBE.
 */
async function probeOutside(p: UserProbe, auth: { username: string; password: string }, client: Redis | Cluster): Promise<ProbeResult[]> {
  const prefixes = [...new Set([...p.otherPrefixes.filter((o) => o !== p.keyPrefix), `kcc-check-${randomBytes(4).toString('hex')}:`])];
  const results: ProbeResult[] = [];
  for (const other of prefixes) {
    const key = namespacedKey(other, random());
    const attempts: [string, () => Promise<unknown>][] = [
      ['GET', () => client.get(key)],
      ['DEL', () => client.del(namespacedKey(other, random()))],
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
    else results.push({ probe, status: 'pass', detail: `${attempts.map(([name]) => name).join(', ')}: NOPERM` });
  }
  return results;
}

/**
 * Harmless stand-ins for dangerous commands: each must be NOPERM, or not exist on the server at all
 * (the exact reply of {@link unavailableReply}: CONFIG on ElastiCache, KEYS and CLIENT LIST on a
 * serverless cache), which refuses it to this user as well.
 */
async function probeDangerous(client: Redis | Cluster): Promise<ProbeResult[]> {
  const attempts: [string, string[]][] = [
    ['CONFIG GET', ['CONFIG', 'GET', 'maxmemory']],
    ['KEYS', ['KEYS', `kcc-check-${randomBytes(8).toString('hex')}*`]],
    ['CLIENT LIST', ['CLIENT', 'LIST']],
  ];
  const results: ProbeResult[] = [];
  for (const [name, command] of attempts) {
    const probe = `refused: ${name}`;
    results.push(
      await client.call(command[0]!, ...command.slice(1)).then(
        (): ProbeResult => ({ probe, status: 'fail', detail: `${name} is allowed: the access string was widened (it denies @dangerous and KEYS)` }),
        (error: unknown): ProbeResult => {
          if (isNoPerm(error)) return { probe, status: 'pass', detail: 'NOPERM' };
          const unavailable = unavailableReply(error, command);
          if (unavailable !== undefined) return { probe, status: 'pass', detail: `not available on this server (${unavailable}): refused to every user` };
          return { probe, status: 'fail', detail: `not NOPERM: ${first(error)}` };
        },
      ),
    );
  }
  return results;
}

/** Round trips of PING; a PING refused (an access string without it) or a connection lost is this probe's failure, not the run's. */
async function probeLatency(client: Redis | Cluster, rounds = 20): Promise<ProbeResult> {
  const probe = 'round trip (PING)';
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    try {
      await client.ping();
    } catch (error) {
      return { probe, status: 'fail', detail: `PING ${i + 1} of ${rounds}: ${first(error)}` };
    }
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
  return { probe, status: 'pass', detail: `median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${times.at(-1)!.toFixed(2)} ms over ${rounds}` };
}
