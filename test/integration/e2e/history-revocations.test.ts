/**
 * The logout-sync and signing-key promises as properties over random histories (a Jepsen-style
 * checker): app instances of one app-env, each through a TCP proxy of its own to one real
 * redis-server (TLS, the app-env's ACL user), revoke sessions, sessions up to a time, users and
 * everything before a time, check tokens, sign client assertions that every instance's JWKS must
 * verify, and rotate the key ring, at random small intervals, while faults are injected: proxy cuts,
 * black holes, lost replies, vanished and held connections per instance, writes refused, event-loop
 * stalls of this process, redis-server killed and restarted, and instances closed and replaced (a
 * rolling deploy). Every act is recorded with the
 * monotonic clock of this one process (test/support/history.ts); once every fault has healed, each
 * instance (and one started afterwards) is checked for every token and verifies every assertion, and
 * the checker judges the whole history.
 *
 * The choices come from a seeded PRNG: a failure names the seed and the steps. Fixed seeds run here;
 * KCC_HISTORY_SEED=<n> (and KCC_HISTORY_STEPS=<n>) runs that seed alone instead, in both variants;
 * KCC_HISTORY_VERBOSE=1 prints each run's summary; KCC_HISTORY_DUMP=<path> writes each whole history to
 * <path>-<variant>-<seed>.txt.
 *
 * Two variants: restarts with persistence (appendonly, appendfsync always: what Redis acknowledged
 * survives), and restarts without it, where docs/logout-sync.md ("When Redis loses its data, only
 * running instances remember") promises that what an instance wrote or heard in the last 10 minutes
 * is written back: property 3 then holds, property 1 leaves out what was acknowledged before a loss
 * (the docs bound no time for the write-back), and property 4 lets a login fail with the JWKS of an
 * instance whose ring is no newer than the signer's (after a loss the rings can part until the newest
 * is written back: a rewind, or two rings of one generation). Instances are replaced in the first
 * variant only: one that starts while Redis has lost the ring creates a key of its own, and logins
 * through the others fail until the running instances are back ("that login fails",
 * docs/signing-keys.md).
 */
import { writeFileSync } from 'node:fs';
import { type JSONWebKeySet, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger, KeyRing, type KeyRingOptions, Revocations } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { History, type Revocation, type TokenClaims, checkHistory, covers, describeViolations, formatEvent } from '../../support/history.js';
import { asAdmin, kccOptions, useTestRedis, withReadOnlyKeys } from '../../support/redis.js';
import { stallProcess } from '../../support/stall.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const MAX_STALENESS_MS = 3_000;
/** A third of maxStalenessMs is the poll interval: every instance reads the log each second. */
const REVOCATION_OPTIONS = { maxStalenessMs: MAX_STALENESS_MS, closeTimeoutMs: 2_000 };
/**
 * Quick reconnects, so that a write through a cut longer than about 2 s fails (ioredis' 20 attempts)
 * and is kept to be written again; a silent connection (black hole, lost replies, vanished peer)
 * noticed within 1.5 s; and a handshake begun during a black hole or lost replies, which stays
 * broken after the heal (its TLS stream lost bytes), given up after 4 s rather than the default 10 s.
 */
const TIMING = { socketTimeoutMs: 1_500, connectTimeoutMs: 4_000, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100 };
/**
 * The key ring's times, short for the run: a rotation activates 3 s after its write, above
 * refreshIntervalMs and a second (2 s), when an instance that has not read the ring counts as overdue
 * (docs/signing-keys.md); retired keys stay published for the whole run.
 */
const RING_OPTIONS: KeyRingOptions = {
  keyEncryptionKey: 'history-test-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'ES256',
  activationDelayMs: 3_000, refreshIntervalMs: 1_000, retireGraceMs: 600_000, lockTtlMs: 5_000,
};
const CLIENT_ID = 'shop';
const AUDIENCE = 'https://sso.example.test/realms/main';
const INSTANCES = 3;
/** How long after every fault healed the instances may take to agree (a bound, never a measure). */
const SETTLE_DEADLINE_MS = 60_000;
const USERS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
/** Revoked user-wide: u4 and u5 never are. */
const REVOKABLE_USERS = 4;

const SEED = process.env.KCC_HISTORY_SEED;
const STEPS = Number(process.env.KCC_HISTORY_STEPS ?? 250);
const VERBOSE = process.env.KCC_HISTORY_VERBOSE === '1';
const DUMP = process.env.KCC_HISTORY_DUMP;
const PERSISTENT_SEEDS = SEED === undefined ? [1, 2] : [Number(SEED)];
const LOSSY_SEEDS = SEED === undefined ? [3] : [Number(SEED)];

/** mulberry32: a small seeded PRNG, so that a seed replays the same choices. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const closeLater = closeAfterEach();

interface Instance {
  readonly id: number;
  readonly redis: KccRedis;
  readonly revocations: Revocations;
  readonly ring: KeyRing;
}

/** Where an instance runs: behind a proxy of its own (faults) or not, the current instance if one runs. */
interface Slot {
  readonly proxy?: TcpProxy;
  current: Instance | undefined;
}

function revoke(revocations: Revocations, revocation: Revocation): Promise<void> {
  switch (revocation.kind) {
    case 'session':
      return revocations.revokeSession(revocation.sid);
    case 'session-up-to':
      return revocations.revokeSession(revocation.sid, { issuedUpTo: revocation.upTo });
    case 'subject':
      return revocations.revokeSubject(revocation.sub, revocation.notBefore);
    case 'all-before':
      return revocations.revokeAllBefore(revocation.notBefore);
  }
}

/** Instance `id` of `user`'s app-env, through `proxy` if given; what it logs and its state changes go into the history. */
async function startOnce(server: LocalRedis, user: string, history: History, id: number, proxy: TcpProxy | undefined): Promise<Instance> {
  const logger: KccLogger = { warn: (message) => history.note(id, `warn: ${message}`), info: (message) => history.note(id, message) };
  const redis = await KccRedis.connect(kccOptions(server, user, { ...TIMING, logger, ...(proxy ? { url: proxy.url } : {}) }), ['subscriber', 'reader']);
  let revocations: Revocations;
  let ring: KeyRing;
  try {
    revocations = await Revocations.start(redis, REVOCATION_OPTIONS);
    ring = await KeyRing.start(redis, RING_OPTIONS);
  } catch (error) {
    await redis.close(); // closes the revocations too
    throw error;
  }
  closeLater(redis);
  closeLater(revocations);
  closeLater(ring);
  revocations.on('stale', () => history.note(id, 'stale'));
  revocations.on('fresh', () => history.note(id, 'fresh'));
  ring.on('change', ({ activeKid, publishedKids }) => history.note(id, `ring: active ${activeKid}, published ${publishedKids.join(' ')}`));
  ring.on('degraded', (reason) => history.note(id, `ring degraded: ${reason}`));
  ring.on('recovered', () => history.note(id, 'ring recovered'));
  history.instance(id);
  return { id, redis, revocations, ring };
}

/** {@link startOnce}, tried again while faults make a start fail (a bound: 20 tries). */
async function startInstance(server: LocalRedis, user: string, history: History, id: number, proxy: TcpProxy | undefined): Promise<Instance> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(server, user, history, id, proxy);
    } catch (error) {
      history.note(id, `start failed: ${(error as Error).message}`);
      if (attempt === 20) throw error;
      await sleep(500);
    }
  }
}

interface RunOptions {
  readonly seed: number;
  readonly steps: number;
  readonly variant: 'persistent' | 'lossy';
}

async function runHistory(server: LocalRedis, user: string, { seed, steps, variant }: RunOptions): Promise<void> {
  const random = mulberry32(seed);
  const below = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const between = (min: number, max: number) => min + below(max - min + 1);
  const history = new History();
  const slots: Slot[] = [];
  let nextId = 0;
  for (let i = 0; i < INSTANCES; i++) {
    const proxy = await TcpProxy.start(server.port);
    closeLater({ close: () => proxy.stop() }); // registered before its instances: closed after them
    slots.push({ proxy, current: await startInstance(server, user, history, nextId++, proxy) });
  }
  const live = () => slots.flatMap(({ current }) => (current ? [current] : []));
  const isLive = (instance: Instance) => slots.some(({ current }) => current === instance);

  const tokens: TokenClaims[] = [];
  const invoked: Revocation[] = [];
  let tokenCount = 0;
  const newToken = () => {
    const offline = random() < 0.25;
    tokens.push(history.token({ sid: `s${tokenCount++}`, sub: pick(USERS), iat: nowS() - below(60), ...(offline ? { scope: 'openid offline_access' } : { scope: 'openid' }) }));
  };
  for (let i = 0; i < 12; i++) newToken();
  const check = (instance: Instance, token: TokenClaims) => history.check(instance.id, token, (t) => instance.revocations.check(t));
  const checkSome = (instance: Instance, count: number) => {
    for (let i = 0; i < count; i++) check(instance, pick(tokens));
  };

  // A login: an assertion signed by one instance, verified with each instance's JWKS as an identity
  // provider fetching it from any of them would (at the time it was signed: the final round verifies them all again).
  const assertions: { op: number; assertion: string; signedAt: Date }[] = [];
  const verify = async (op: number, assertion: string, signedAt: Date, verifier: Instance) => {
    const jwks = (await verifier.ring.currentJwks()) as JSONWebKeySet;
    if (!isLive(verifier)) return; // closed meanwhile: its JWKS is served no more
    const { readOverdue, generation } = verifier.ring.health();
    try {
      await jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: CLIENT_ID, audience: AUDIENCE, currentDate: signedAt });
      history.verified(op, verifier.id, { ok: true, readOverdue, generation });
    } catch (error) {
      history.verified(op, verifier.id, { ok: false, readOverdue, generation, error: (error as Error).message });
    }
  };
  const login = async (signer: Instance) => {
    let assertion: string;
    try {
      assertion = await signer.ring.signClientAssertion({ clientId: CLIENT_ID, audience: AUDIENCE });
    } catch (error) {
      if (isLive(signer)) history.signed(signer.id, { error: (error as Error).message }); // not one closed meanwhile
      return;
    }
    const signedAt = new Date();
    const op = history.signed(signer.id, { kid: String(decodeProtectedHeader(assertion).kid), generation: signer.ring.health().generation });
    assertions.push({ op, assertion, signedAt });
    await Promise.all(live().map((verifier) => verify(op, assertion, signedAt, verifier)));
  };
  const inFlight = new Set<Promise<void>>();
  const background = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const healers = new Map<Slot, { timer: NodeJS.Timeout; heal: () => void }>();
  const faultFor = (slot: Slot, what: string, ms: number, begin: (proxy: TcpProxy) => void, end: (proxy: TcpProxy) => void) => {
    const proxy = slot.proxy!;
    const where = `the proxy of slot ${slots.indexOf(slot)}`;
    history.fault(`${what} ${where} for ${ms} ms`);
    begin(proxy);
    const heal = () => {
      healers.delete(slot);
      end(proxy);
      history.fault(`${what} ${where} over`);
    };
    healers.set(slot, { timer: setTimeout(heal, ms), heal });
  };
  let restarting: Promise<void> | undefined;
  let readOnly: Promise<void> | undefined;
  let endReadOnly = () => {};
  let restarts = 0;
  let replacements = 0;
  let longStalls = 0;

  const restart = () => {
    if (restarting || readOnly || restarts >= 2) return;
    restarts++;
    const downMs = between(0, 1_500);
    restarting = (async () => {
      const from = performance.now();
      history.fault(`redis-server killed (SIGKILL), restarted after ${downMs} ms${variant === 'lossy' ? ', without its data' : ''}`);
      await server.kill();
      await sleep(downMs);
      await server.restart();
      if (variant === 'lossy') history.loss(from);
      history.fault('redis-server restarted');
    })().finally(() => {
      restarting = undefined;
    });
  };
  const rotate = (instance: Instance) =>
    background(instance.ring.rotate().then(
      ({ rotated, kid, activatesAt }) => history.note(instance.id, `rotate(): ${rotated ? 'rotated' : 'not rotated'}, next ${kid} activates in ${activatesAt - Date.now()} ms`),
      (error: unknown) => history.note(instance.id, `rotate() failed: ${(error as Error).message}`),
    ));
  // A rolling deploy: the slot's instance closes (writing for closeTimeoutMs what Redis has not
  // confirmed, then giving it up), and a new one starts behind the same proxy, faults and all.
  const replace = (slot: Slot) => {
    const old = slot.current;
    if (!old || variant === 'lossy' || replacements >= 2) return;
    replacements++;
    slot.current = undefined;
    const id = nextId++;
    history.fault(`instance ${old.id} closes, instance ${id} replaces it`);
    background((async () => {
      await old.ring.close();
      await old.revocations.close();
      history.closed(old.id, old.revocations.stats.unconfirmed);
      await old.redis.close();
      slot.current = await startInstance(server, user, history, id, slot.proxy);
    })());
  };

  const injectFault = () => {
    const kind = pick(['cut', 'blackhole', 'dropReplies', 'vanish', 'vanishHoldOne', 'stall', 'stall', 'restart', 'readOnly', 'replace'] as const);
    const slot = pick(slots);
    if (kind === 'stall') {
      // Mostly short; at most one past maxStalenessMs, whose first check after must not answer 'active' from before.
      const long = longStalls < 1 && random() < 0.3;
      const ms = long ? between(MAX_STALENESS_MS + 100, MAX_STALENESS_MS + 600) : between(50, 400);
      if (long) longStalls++;
      history.fault(`stall of this process for ${ms} ms`);
      stallProcess(ms);
      history.fault('stall over');
      if (slot.current) checkSome(slot.current, 3);
      return;
    }
    if (kind === 'readOnly') {
      // Redis refuses every write of the app-env's user (NOPERM: an error reply, no reconnect), reads go on.
      if (restarting || readOnly) return;
      const ms = between(500, 3_000);
      readOnly = asAdmin(server, (admin) =>
        withReadOnlyKeys(admin, user, async () => {
          history.fault(`writes refused (NOPERM) for ${ms} ms`);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            endReadOnly = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }),
      ).finally(() => {
        history.fault('writes refused over');
        readOnly = undefined;
      });
      return;
    }
    if (kind === 'restart') return restart();
    if (kind === 'replace') return replace(slot);
    if (healers.has(slot)) return;
    const ms = between(300, 4_000);
    switch (kind) {
      case 'cut':
        return faultFor(slot, 'cut', ms, (p) => p.cut(), (p) => p.heal());
      case 'blackhole':
        return faultFor(slot, 'black hole', ms, (p) => p.blackhole(), (p) => p.heal());
      case 'dropReplies':
        return faultFor(slot, 'replies lost', ms, (p) => void (p.dropReplies = true), (p) => void (p.dropReplies = false));
      case 'vanish':
        history.fault(`connections of slot ${slots.indexOf(slot)} vanish`);
        slot.proxy!.vanish();
        return;
      case 'vanishHoldOne':
        // The first connection to come back (commands, subscriber or reader, whichever notices first) is
        // held: the others work while it does not.
        return faultFor(slot, 'vanish, the first reconnection held, through', ms, (p) => {
          p.vanish();
          p.hold(1);
        }, (p) => p.release());
    }
  };

  const started = performance.now();
  try {
    for (let step = 0; step < steps; step++) {
      await sleep(below(60));
      if (random() < 0.07) injectFault();
      const instance = pick(slots).current;
      // Whatever the draws, every run rotates early and restarts Redis at least once.
      if (step === Math.floor(steps / 5)) rotate(live()[0]!);
      if (step >= Math.floor(steps / 2) && restarts === 0) restart();
      const r = random();
      let revocation: Revocation | undefined;
      if (r < 0.08) newToken();
      else if (!instance) continue; // being replaced
      else if (r < 0.12) rotate(instance);
      else if (r < 0.27) background(login(instance));
      else if (r < 0.35) revocation = { kind: 'session', sid: pick(tokens).sid };
      else if (r < 0.4) revocation = { kind: 'session-up-to', sid: pick(tokens).sid, upTo: nowS() - below(20) };
      else if (r < 0.46) revocation = { kind: 'subject', sub: USERS[below(REVOKABLE_USERS)]!, notBefore: nowS() - (random() < 0.5 ? 0 : below(30)) };
      else if (r < 0.47) revocation = { kind: 'all-before', notBefore: nowS() - 55 };
      else checkSome(instance, between(1, 4));
      if (instance && revocation) {
        invoked.push(revocation);
        const r = revocation;
        void history.revoke(instance.id, r, () => revoke(instance.revocations, r));
      }
    }
  } finally {
    for (const { timer, heal } of [...healers.values()]) {
      clearTimeout(timer);
      heal();
    }
    for (const { proxy } of slots) {
      proxy!.heal();
      proxy!.dropReplies = false;
    }
    endReadOnly();
    await Promise.all([restarting, readOnly]);
    await Promise.all(inFlight);
  }
  history.fault('every fault healed');
  const runMs = performance.now() - started;

  // Property 3's wait: every instance answers for every token as the invoked revocations say, and has
  // nothing unconfirmed; every ring has been read and they all sign with the same key. The rounds are
  // recorded: property 1 and 2 hold in them too. A closed instance's revocations that Redis never
  // confirmed may be lost: either answer is right for the tokens only they cover (the checker's rule).
  const closedWithUnconfirmed = new Set(history.events.flatMap((e) => (e.type === 'closed' && e.unconfirmed > 0 ? [e.instance] : [])));
  const acknowledged = new Set(history.events.flatMap((e) => (e.type === 'ok' ? [e.op] : [])));
  const invokedOps = history.events.flatMap((e) => (e.type === 'invoke' ? [e] : []));
  const expected = (token: TokenClaims): readonly string[] => {
    const covering = invokedOps.filter((e) => covers(e.revocation, token));
    if (covering.some((e) => acknowledged.has(e.op) || !closedWithUnconfirmed.has(e.instance))) return ['revoked'];
    return covering.length > 0 ? ['revoked', 'active'] : ['active'];
  };
  const settle = async (deadline: number) => {
    for (;;) {
      let agreed = true;
      for (const instance of live()) {
        for (const token of tokens) if (!expected(token).includes(check(instance, token))) agreed = false;
        if (instance.revocations.stats.unconfirmed > 0) agreed = false;
      }
      const rings = live().map(({ ring }) => ring.health());
      if (rings.some((h) => h.status !== 'ready' || h.readOverdue || h.activeKid !== rings[0]!.activeKid)) agreed = false;
      if (agreed || performance.now() > deadline) return;
      await sleep(200);
    }
  };
  const settleFrom = performance.now();
  await settle(settleFrom + SETTLE_DEADLINE_MS);
  // One started now loads what Redis holds: every revocation, durable (or written back).
  slots.push({ current: await startInstance(server, user, history, nextId++, undefined) });
  await settle(settleFrom + SETTLE_DEADLINE_MS);
  const settleMs = performance.now() - settleFrom;
  history.final();
  for (const instance of live()) for (const token of tokens) check(instance, token);
  // Property 4 once healed: every assertion of the run, and one more from each instance, verifies on
  // every instance (retired keys stay published for retireGraceMs, longer than the run).
  for (const instance of live()) await login(instance);
  for (const { op, assertion, signedAt } of assertions) await Promise.all(live().map((verifier) => verify(op, assertion, signedAt, verifier)));

  const report = checkHistory(history.events, { maxStalenessMs: MAX_STALENESS_MS });
  const kids = new Set(history.events.flatMap((e) => (e.type === 'sign' && e.kid !== undefined ? [e.kid] : []))).size;
  const summary = `history seed=${seed} steps=${steps} variant=${variant}: run ${Math.round(runMs)} ms, settled ${Math.round(settleMs)} ms, ${kids} signing keys, ${replacements} replaced, ${JSON.stringify(report.stats)}`;
  if (VERBOSE) console.info(summary);
  if (DUMP) writeFileSync(`${DUMP}-${variant}-${seed}.txt`, `${history.events.map(formatEvent).join('\n')}\n`);
  if (report.violations.length > 0) expect.fail(describeViolations(history.events, report, { seed, steps, variant }));
  // Not vacuous: faults happened, the answers varied, and property 1 bound checks during the run.
  expect(report.stats.faults, summary).toBeGreaterThan(0);
  expect(report.stats.answers.revoked, summary).toBeGreaterThan(0);
  expect(report.stats.answers.active, summary).toBeGreaterThan(0);
  expect(report.stats.boundChecksBeforeFinal, summary).toBeGreaterThan(0);
  expect(report.stats.signed, summary).toBeGreaterThan(INSTANCES);
  if (variant === 'lossy') expect(report.stats.losses, summary).toBeGreaterThan(0);
}

describe('revocation histories: redis-server restarts with persistence (appendfsync always)', () => {
  const server = useTestRedis({ appEnvs: PERSISTENT_SEEDS.map((_, i) => ({ app: `histp${i}`, env: 'prod' })), persistence: 'aof' });
  PERSISTENT_SEEDS.forEach((seed, i) => {
    it(`seed ${seed}: no missed logout past maxStalenessMs, no false revocation, nothing lost after the faults heal, no failed login`, { timeout: 180_000 }, async () => {
      await runHistory(server, `histp${i}-prod`, { seed, steps: STEPS, variant: 'persistent' });
    });
  });
});

describe('revocation histories: redis-server restarts without its data', () => {
  const server = useTestRedis({ appEnvs: LOSSY_SEEDS.map((_, i) => ({ app: `histl${i}`, env: 'prod' })), persistence: 'none' });
  LOSSY_SEEDS.forEach((seed, i) => {
    it(`seed ${seed}: what Redis lost is written back; no false revocation; no missed logout for what it kept; no failed login but through parted rings`, { timeout: 180_000 }, async () => {
      await runHistory(server, `histl${i}-prod`, { seed, steps: STEPS, variant: 'lossy' });
    });
  });
});
