import { createHook } from 'node:async_hooks';
import { type EventEmitter, getEventListeners } from 'node:events';
import type { KccRedis, KeyRing, Revocations } from '../../client/src/index.js';
import type { RedisClient } from '../../client/src/redis-client.js';
import { collectGarbage } from './gc.js';

/**
 * Counts of what a long-lived process holds (listeners, active handles, sizes of internal
 * collections), by name, for the leak tests: what grows with the number of events (reconnects,
 * renewals, start/close cycles) rather than with the state. A leak test takes a {@link baseline}
 * after a few cycles of an event, runs many more, and checks with {@link expectBackTo} that every
 * count comes back to it. No timing and no heap size is asserted.
 */
export type Counts = Record<string, number>;

/** Handles and timers alive now by async resource id, from {@link trackHandles}' hook on. */
let live: Map<number, string> | undefined;

/**
 * Counts the timers (`Timeout`, unreferenced ones too: `getActiveResourcesInfo()` leaves those out,
 * and nearly every timer of the client is one), sockets (`TCPWRAP`, `TLSWRAP`) and other handles
 * alive, by type, each prefixed `live:`, from the first call on (an async hook's init and destroy;
 * call it at the top of a test file, before what it counts is made). A timer is alive until it fires
 * or is cleared (an interval until it is cleared), a socket until it closes.
 */
export function trackHandles(): () => Counts {
  if (!live) {
    const alive = new Map<number, string>();
    live = alive;
    createHook({
      init(asyncId, type) {
        if (type !== 'PROMISE') alive.set(asyncId, type);
      },
      destroy(asyncId) {
        alive.delete(asyncId);
      },
    }).enable();
  }
  const alive = live;
  return () => {
    const counts: Counts = {};
    for (const type of alive.values()) counts[`live:${type}`] = (counts[`live:${type}`] ?? 0) + 1;
    return counts;
  };
}

/** `process.getActiveResourcesInfo()` by type (`Timeout`, `TCPWrap`, `TLSWrap`, …), each prefixed `active:`. */
export function activeResources(): Counts {
  const counts: Counts = {};
  for (const type of process.getActiveResourcesInfo()) counts[`active:${type}`] = (counts[`active:${type}`] ?? 0) + 1;
  return counts;
}

/** The listeners `process` holds, per event (`exit`, `SIGTERM`, `warning`, …), prefixed `process:`. */
export function processListeners(): Counts {
  return listeners('process', process);
}

/** The listeners `emitter` holds, per event, prefixed `<name>:`. */
export function listeners(name: string, emitter: EventEmitter | NodeJS.EventEmitter): Counts {
  const counts: Counts = {};
  for (const event of emitter.eventNames()) counts[`${name}:${String(event)}`] = emitter.listenerCount(event);
  return counts;
}

/** What a {@link KccRedis} keeps (ioredis 6 and the client's own internals, read in tests only). */
interface KccRedisInternals {
  readonly clients: Map<RedisClient, string>;
  readonly warm: Map<string, unknown[]>;
  readonly renewHooks: Map<unknown, unknown>;
  readonly claiming: Set<unknown>;
  readonly retiring: Set<unknown>;
  readonly closeFirst: Map<unknown, unknown>;
  readonly heartbeatReports: Set<unknown>;
  readonly outages: Map<unknown, unknown>;
  readonly everReady: Set<unknown>;
  readonly closing: AbortController;
  readonly tlsSessions?: { readonly held: number };
  readonly renewal?: { readonly due: Map<unknown, unknown> };
  readonly subscriptions: { readonly channels: Map<string, Set<unknown>>; readonly shardedNames: Map<string, string> };
}

/**
 * A connection's counts: the sizes of its internal collections, the listeners on it (per event),
 * on its `closing` signal, and on each of its ioredis clients (per role and event, summed over the
 * clients of a role; a cluster's node connections too), and how many clients each role has.
 */
export function connectionCounts(redis: KccRedis): Counts {
  const internals = redis as unknown as KccRedisInternals;
  const counts: Counts = {
    'kcc:clients': internals.clients.size,
    'kcc:warm': [...internals.warm.values()].reduce((sum, list) => sum + list.length, 0),
    'kcc:renewHooks': internals.renewHooks.size,
    'kcc:claiming': internals.claiming.size,
    'kcc:retiring': internals.retiring.size,
    'kcc:closeFirst': internals.closeFirst.size,
    'kcc:heartbeatReports': internals.heartbeatReports.size,
    'kcc:outages': internals.outages.size,
    'kcc:everReady': internals.everReady.size,
    'kcc:tlsSessions': internals.tlsSessions?.held ?? 0,
    'kcc:renewalDue': internals.renewal?.due.size ?? 0,
    'kcc:channels': internals.subscriptions.channels.size,
    'kcc:channelListeners': [...internals.subscriptions.channels.values()].reduce((sum, set) => sum + set.size, 0),
    'kcc:shardedNames': internals.subscriptions.shardedNames.size,
    'kcc:closingSignal:abort': getEventListeners(internals.closing.signal, 'abort').length,
    ...listeners('kcc', redis),
  };
  for (const [client, role] of internals.clients) {
    add(counts, `clients:${role}`, 1);
    addAll(counts, listeners(`${role}`, client));
    if ('nodes' in client && typeof client.nodes === 'function') {
      for (const node of client.nodes('all')) addAll(counts, listeners(`${role}-node`, node));
    }
  }
  return counts;
}

/** Sums `more` into `counts`. */
export function addAll(counts: Counts, more: Counts): Counts {
  for (const [name, value] of Object.entries(more)) add(counts, name, value);
  return counts;
}

function add(counts: Counts, name: string, value: number): void {
  counts[name] = (counts[name] ?? 0) + value;
}

/**
 * `base` with each count in `bounds` raised to its bound: for a collection that holds state with a
 * known bound rather than anything per event (TLS sessions: one per endpoint; outages: one per role
 * and endpoint, said once a minute), which may not have reached it when the baseline was taken.
 */
export function withBounds(base: Counts, bounds: Counts): Counts {
  const raised = { ...base };
  for (const [name, bound] of Object.entries(bounds)) raised[name] = Math.max(raised[name] ?? 0, bound);
  return raised;
}

const SAMPLE_EVERY_MS = 20;
/** How often {@link expectBackTo} collects garbage between samples: a closed socket's `TLSWRAP` is destroyed when collected. */
const COLLECT_EVERY_MS = 200;

/** Collects garbage, and lets the destroy hooks of what it freed run. */
async function collected(): Promise<void> {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
}

/** Options of {@link baseline}. */
export interface BaselineOptions {
  /** How long the samples are taken. @default 600 */
  readonly windowMs?: number;
  /**
   * Counts that reach their steady value some time after the cycles (a cluster opens a node
   * connection when a command or a topology read first needs it): the baseline waits until none of
   * them changed for `quietMs` (within 15 s: a bound, not a measure) before its samples.
   */
  readonly settleOn?: readonly string[];
  /** @default 2500 */
  readonly quietMs?: number;
}

/**
 * The least of each count over `windowMs` of samples, after garbage was collected: what stays held,
 * without what comes and goes (a command's socket timer, a poll in flight).
 */
export async function baseline(sample: () => Counts, options: BaselineOptions = {}): Promise<Counts> {
  const { windowMs = 600, settleOn = [], quietMs = 2_500 } = options;
  if (settleOn.length > 0) {
    const read = () => JSON.stringify(settleOn.map((name) => sample()[name] ?? 0));
    const deadline = performance.now() + 15_000;
    let last = read();
    let since = performance.now();
    while (performance.now() - since < quietMs && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = read();
      if (now !== last) [last, since] = [now, performance.now()];
    }
  }
  await collected();
  await collected();
  const least: Counts = {};
  const end = performance.now() + windowMs;
  do {
    for (const [name, value] of Object.entries(sample())) least[name] = Math.min(least[name] ?? Number.POSITIVE_INFINITY, value);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
  } while (performance.now() < end);
  return least;
}

/**
 * Waits (up to `deadlineMs`: a bound, not a measure), collecting garbage now and then, until each
 * count has been, at some sample, no higher than in `base` (a count missing from a sample is 0); fails naming each count that never came
 * back down, with the least it reached. What comes and goes (a lost-writes check pausing up to 5 s
 * after a reconnect) comes back down; what grows per event does not.
 */
export async function expectBackTo(sample: () => Counts, base: Counts, what: string, deadlineMs = 12_000): Promise<void> {
  const least: Counts = {};
  const end = performance.now() + deadlineMs;
  const above = () => Object.entries(least).filter(([name, value]) => value > (base[name] ?? 0));
  let collectedAt = Number.NEGATIVE_INFINITY;
  for (;;) {
    if (performance.now() - collectedAt >= COLLECT_EVERY_MS) {
      await collected();
      collectedAt = performance.now();
    }
    const now = sample();
    for (const name of new Set([...Object.keys(now), ...Object.keys(least)])) least[name] = Math.min(least[name] ?? Number.POSITIVE_INFINITY, now[name] ?? 0);
    if (above().length === 0) return;
    if (performance.now() > end) break;
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
  }
  const grown = above().map(([name, value]) => `${name}: ${base[name] ?? 0} -> ${value}`);
  throw new Error(`${what}: counts that grew and stayed up (baseline -> least since): ${grown.join(', ')}`);
}

/** A Revocations' own collections and listeners (internals, tests only); not the bounded ones (recent ids: at most 20,000 each). */
export function revocationCounts(revocations: Revocations): Counts {
  const r = revocations as unknown as {
    writesInFlight: Set<unknown>; revocationWrites: Set<unknown>; waitingCallers: Set<unknown>; timers: unknown[];
    recentWrites: { size: number }; unwritten: { size: number }; otherWrites: number;
  };
  return {
    'rev:writesInFlight': r.writesInFlight.size,
    'rev:revocationWrites': r.revocationWrites.size,
    'rev:waitingCallers': r.waitingCallers.size,
    'rev:timers': r.timers.length,
    'rev:recentWrites': r.recentWrites.size,
    'rev:unwritten': r.unwritten.size,
    'rev:otherWrites': r.otherWrites,
    ...listeners('rev', revocations),
  };
}

/** A KeyRing's own collections and listeners (internals, tests only). */
export function ringCounts(ring: KeyRing): Counts {
  const r = ring as unknown as { working: Set<unknown>; timers: unknown[]; keeper: NodeJS.EventEmitter; kept: { size: number } };
  return { 'ring:working': r.working.size, 'ring:timers': r.timers.length, 'ring:kept': r.kept.size, ...listeners('ring', ring), ...listeners('keeper', r.keeper) };
}
