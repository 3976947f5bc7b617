/**
 * KccRedis.close() closes what runs on the connection first (an attack review of the close paths,
 * 2026-12-06). Fastify runs onClose hooks last-registered-first, so `app.register(fastifyKcc, { redis })`
 * followed by `app.addHook('onClose', () => redis.close())` closed the connection before the plugin
 * closed the ring and the revocations: a write-back's lock stayed for its TTL, a revocation in flight
 * was lost. Now a KeyRing or Revocations started on a connection is closed by its close(), first.
 *
 * Real redis-server (TLS, ACL users, no persistence).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions, Revocations } from '../../../client/src/index.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { resolveKeyRingOptions } from '../../../client/src/keyring/key-ring-options.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { COMPARE_AND_SET } from '../../../client/src/store.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { asAdmin, interceptCommand, interceptScript, kccOptions, useTestRedis } from '../../support/redis.js';

const KEK = 'close-first-test-key-encryption-key-0123456789abcdefghijklmnopq';
const USER = 'closefirst-prod';
const server = useTestRedis({ appEnvs: [{ app: 'closefirst', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const OPTIONS: KeyRingOptions = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', activationDelayMs: 3_600_000, refreshIntervalMs: 3_600_000, lockTtlMs: 20_000 };

async function connect(): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, USER)));
}

/** What a start came to: its error, or (to show it in a failed expectation) `{ started: true }`. */
function startOutcome(start: Promise<unknown>): Promise<unknown> {
  return start.then(
    () => ({ started: true }),
    (error: unknown) => error,
  );
}

/** Holds `redis`'s scripts whose arguments name `key` (with `nth`, that call only) until `release()`; `parked` resolves once one is held. */
function parkScriptsOn(redis: KccRedis, key: string, nth?: number) {
  let calls = 0;
  const { hold, parked, release } = parking((args) => args.includes(key) && (nth === undefined || ++calls === nth));
  for (const method of ['evalsha', 'eval', 'call', 'callBuffer']) interceptCommand(redis, method, (args, send) => hold(args, send));
  return { parked, release };
}

/** A key ring start on `redis` aborted once `parked` (then released): what the start came to. */
async function abortedRingStart(redis: KccRedis, { parked, release }: { parked: Promise<void>; release: () => void }): Promise<unknown> {
  const abort = new AbortController();
  const starting = startOutcome(KeyRing.startResolved(redis, await resolveKeyRingOptions(OPTIONS, redis.config.logger), undefined, abort.signal));
  await parked;
  abort.abort();
  release();
  return starting;
}

/** Calls `release` as `redis.close()` begins (its hooks have run by then). */
function releaseAtClose(redis: KccRedis, release: () => void): void {
  const close = redis.close.bind(redis);
  redis.close = () => {
    const closing = close();
    release();
    return closing;
  };
}

/**
 * Calls `release` on the `nth` call of `component.close()`: the first, or (when the app closes it
 * too) the second is KccRedis.close() asking it to close. A connection that closes without asking
 * never calls it.
 */
function releaseAtComponentClose(component: { close(): Promise<void> }, release: () => void, nth: 1 | 2): void {
  let calls = 0;
  const close = component.close.bind(component);
  component.close = () => {
    if (++calls === nth) release();
    return close();
  };
}

/** A hook that holds what `matches` picks until `release()`; `parked` resolves once one is held. */
function parking(matches: (keys: unknown[]) => boolean) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const parked = new Promise<void>((resolve) => (held = resolve));
  const hold = async (keys: unknown[], send: () => Promise<unknown>) => {
    if (matches(keys)) {
      held();
      await released;
    }
    return send();
  };
  return { hold, parked, release };
}

describe('KccRedis.close() closes what runs on it first', () => {
  it('the app closes the connection without closing the ring first: KccRedis.close() closes the ring first, so its write-back lands and its lock is released', async () => {
    const redis = await connect();
    const ring = closeLater(await KeyRing.start(redis, OPTIONS));
    const generation = ring.health().generation;
    // Redis lost the ring: the next sync writes it back under the lock; its write is held.
    await asAdmin(server, (admin) => admin.del(redis.key(KEY_RING_KEYS.ring), redis.key(KEY_RING_KEYS.log)));
    const { hold, parked, release } = parking((keys) => keys[0] === redis.key(KEY_RING_KEYS.ring));
    interceptScript(redis, COMPARE_AND_SET, (keys, _args, send) => hold(keys, send));
    await (ring as unknown as { keeper: { log: { requestCheck(): Promise<void> } } }).keeper.log.requestCheck();
    await parked;
    // The write goes on once the ring is told to close: a connection that closes without closing the ring never lets it.
    releaseAtComponentClose(ring, release, 1);
    await redis.close(); // e.g. an onClose hook the app added after registering the Fastify plugin: it runs before the plugin's
    release();
    expect(ring.health().status).toBe('closed');
    expect(await asAdmin(server, (admin) => admin.exists(redis.key(`lock:${KEY_RING_KEYS.lock}`)))).toBe(0);
    const again = closeLater(await KeyRing.start(await connect(), OPTIONS));
    expect(again.health().generation).toBe(generation);
  });

  it('KccRedis.close() called twice: the second call resolves only when the first has (it returned while the connections were still open)', async () => {
    const redis = await connect();
    let firstDone = false;
    void redis.close().then(() => (firstDone = true));
    await redis.close();
    expect(firstDone).toBe(true);
  });

  it('the ring and the connection closed at once (Promise.all): the connection still waits for the ring, whose write-back lands and whose lock is released', async () => {
    const redis = await connect();
    const ring = closeLater(await KeyRing.start(redis, OPTIONS));
    await asAdmin(server, (admin) => admin.del(redis.key(KEY_RING_KEYS.ring), redis.key(KEY_RING_KEYS.log)));
    const { hold, parked, release } = parking((keys) => keys[0] === redis.key(KEY_RING_KEYS.ring));
    interceptScript(redis, COMPARE_AND_SET, (keys, _args, send) => hold(keys, send));
    await (ring as unknown as { keeper: { log: { requestCheck(): Promise<void> } } }).keeper.log.requestCheck();
    await parked;
    // Released when KccRedis.close() asks the ring to close, or once the connection closed without
    // asking: the ring's own close had removed its hook before its work was done.
    releaseAtComponentClose(ring, release, 2);
    await Promise.all([ring.close(), redis.close().then(release)]);
    expect(await asAdmin(server, (admin) => admin.exists(redis.key(`lock:${KEY_RING_KEYS.lock}`)))).toBe(0);
    expect(await asAdmin(server, (admin) => admin.exists(redis.key(KEY_RING_KEYS.ring)))).toBe(1);
  });

  it('the connection closed while a key ring starts on it: the start fails with KccClosedError, leaving no ring running', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['reader'])); // the tail's connection ready: nothing else fails the start
    // The start's read of the ring is answered only once the connection is closing.
    const { parked, release } = parkScriptsOn(redis, redis.key(KEY_RING_KEYS.ring));
    releaseAtClose(redis, release);
    const starting = startOutcome(KeyRing.start(redis, OPTIONS));
    await parked;
    await redis.close();
    expect(await starting).toMatchObject({ code: 'KCC_CLOSED' });
  });

  it('a key ring start aborted (the Fastify plugin closing, on a connection the app keeps): KccClosedError, and no log tail left reading', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId: 'aborted-ring' })));
    // Aborted during its first round trip, before its log tail exists: the close finds no tail to stop.
    expect(await abortedRingStart(redis, parkScriptsOn(redis, redis.key(KEY_RING_KEYS.ring)))).toMatchObject({ code: 'KCC_CLOSED' });
    // The tail created after the close is stopped with its connection (it read on, in XREAD, until the app closed the connection).
    const readers = () => asAdmin(server, async (admin) => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => line.includes(`name=kcc:${USER}:aborted-ring:reader`)).length);
    await untilAsync(async () => (await readers()) === 0, 'no log tail left reading');
    expect(await redis.run((client) => client.ping())).toBe('PONG');
  });

  it('a key ring start aborted while it holds the creation lock: no ring created, the lock released', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER)));
    await asAdmin(server, (admin) => admin.del(redis.key(KEY_RING_KEYS.ring), redis.key(KEY_RING_KEYS.log)));
    // The second read of the ring: the one under the creation lock, before the first key is written.
    expect(await abortedRingStart(redis, parkScriptsOn(redis, redis.key(KEY_RING_KEYS.ring), 2))).toMatchObject({ code: 'KCC_CLOSED' });
    expect(await asAdmin(server, (admin) => admin.exists(redis.key(KEY_RING_KEYS.ring)))).toBe(0);
    expect(await asAdmin(server, (admin) => admin.exists(redis.key(`lock:${KEY_RING_KEYS.lock}`)))).toBe(0);
  });

  it('key rings started and closed on a connection the app keeps leave nothing registered on it', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER)));
    const internals = redis as unknown as { clients: Map<unknown, unknown>; renewHooks: Map<unknown, unknown> };
    const before = internals.clients.size;
    for (let i = 0; i < 3; i++) await (await KeyRing.start(redis, OPTIONS)).close();
    // A stopped tail's reader stayed registered, its renewal hook holding the closed ring (its private keys too) until the connection closed.
    expect(internals.clients.size).toBe(before);
    expect(internals.renewHooks.size).toBe(0);
  });

  it('the connection closed while a key ring start waits for the ring its log names: the start stops at once, and the close says nothing is left running', async () => {
    const first = await connect();
    const ringKey = first.key(KEY_RING_KEYS.ring);
    await (await KeyRing.start(first, OPTIONS)).close();
    // Redis lost the ring but not its log: a start asks running instances for it and waits (up to 10 s).
    await asAdmin(server, (admin) => admin.del(ringKey));
    const logLength = () => asAdmin(server, (admin) => admin.xlen(first.key(KEY_RING_KEYS.log)));
    const before = await logLength();
    const warnings: string[] = [];
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { logger: { warn: (m) => void warnings.push(m), info: () => undefined } })));
    const starting = startOutcome(KeyRing.start(redis, OPTIONS));
    await untilAsync(async () => (await logLength()) > before, 'the start asking for the ring');
    await redis.close();
    expect(await starting).toMatchObject({ code: 'KCC_CLOSED' });
    // Before: the ring's close waited its 2 s for the start, which went on waiting, and warned.
    expect(warnings.filter((w) => w.includes('still running'))).toEqual([]);
    expect(await asAdmin(server, (admin) => admin.exists(ringKey))).toBe(0);
  });

  it('the connection closed while Revocations start on it: the start fails with KccClosedError', async () => {
    const redis = await connect();
    const { parked, release } = parkScriptsOn(redis, redis.key(REVOCATION_KEYS.sessions));
    releaseAtClose(redis, release);
    const starting = startOutcome(Revocations.start(redis));
    await parked;
    await redis.close();
    expect(await starting).toMatchObject({ code: 'KCC_CLOSED' });
  });

  const revocationCloses: [string, 1 | 2, (revocations: Revocations, redis: KccRedis, release: () => void) => Promise<unknown>][] = [
    // Released once Revocations is told to close: a connection that closes without closing it never lets it.
    ['the app closes the connection without closing Revocations first', 1, (_revocations, redis, release) => redis.close().then(release)],
    // Released when KccRedis.close() asks it to close while the app's own close runs.
    ['Revocations and the connection closed at once', 2, (revocations, redis, release) => Promise.all([revocations.close(), redis.close().then(release)])],
  ];
  it.each(revocationCloses)('%s: a revocation whose write is in flight still reaches Redis', async (_what, nth, close) => {
    const redis = await connect();
    const revocations = closeLater(await Revocations.start(redis));
    const sessions = redis.key(REVOCATION_KEYS.sessions);
    const { parked, release } = parkScriptsOn(redis, sessions);
    const sid = `sid-closed-${nth}`;
    const revoking = revocations.revokeSession(sid).catch(() => undefined);
    await parked;
    releaseAtComponentClose(revocations, release, nth);
    await close(revocations, redis, release);
    await revoking;
    expect(await asAdmin(server, async (admin) => admin.zscore(sessions, sid))).not.toBeNull();
  });
});
