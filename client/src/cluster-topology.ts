import type { Cluster, Redis } from 'ioredis';

/**
 * A cluster's topology, re-read on connections already open. ioredis' own periodic re-read
 * (`slotsRefreshInterval`) opens a new authenticated TLS connection for every read (it duplicates a
 * node's connection so that a blocked one cannot hold the read up); at one read every 5 s on two
 * connections that is 0.4 new TLS connections a second per instance, which AWS's guidance counts
 * as expensive next to commands ("Large number of connections (Valkey and Redis OSS)",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/BestPractices.Clients.Redis.Connections.html).
 *
 * Here `CLUSTER SLOTS` goes to a node over the connection the cluster already holds to it, and a
 * cluster whose slot map differs from the answer re-reads its topology the usual way (one new
 * connection, only when something moved). A node that does not answer within {@link ANSWER_WITHIN_MS}
 * (frozen, or in a failover) is passed over for the next one, as ioredis passes over a node whose
 * re-read times out.
 */
export class ClusterTopology {
  private readonly timer: NodeJS.Timeout;
  private running = false;
  /** Nodes that let a read go unanswered: asked last until one answers again (a frozen primary would otherwise cost a second per read). */
  private readonly silent = new WeakSet<Redis>();
  /** Nodes without a connection that a read has asked once: a read opens at most one connection to each (a node that refuses it is never asked again). */
  private readonly tried = new WeakSet<Redis>();
  /** When each cluster was last told to re-read: at most once per {@link MIN_REFRESH_GAP_MS}, whatever the answers say. */
  private readonly lastRefresh = new WeakMap<Cluster, number>();

  /**
   * `asker`: the cluster whose node connections carry the reads (the command connection's, open to
   * the nodes the app-env uses). `followers`: every cluster whose slot map must follow (the asker
   * included).
   */
  constructor(
    private readonly asker: () => Cluster | undefined,
    private readonly followers: () => Iterable<Cluster>,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One read, and a re-read by each follower whose slot map it contradicts. Never rejects. */
  private async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const cluster = this.asker();
      if (!cluster || cluster.status !== 'ready') return;
      const answer = await this.firstAnswer(askOrder(cluster.nodes('all'), this.silent, this.tried));
      if (!answer) return;
      const now = performance.now();
      for (const follower of this.followers()) {
        if (follower.status !== 'ready' || sameSlots(follower.slots, answer)) continue;
        if (now - (this.lastRefresh.get(follower) ?? -Infinity) < MIN_REFRESH_GAP_MS) continue;
        this.lastRefresh.set(follower, now);
        follower.refreshSlotsCache();
      }
    } catch {
      // ioredis' own re-reads (MOVED, a node's error) still run; the next read tries again
    } finally {
      this.running = false;
    }
  }

  private async firstAnswer(nodes: readonly Redis[]): Promise<readonly SlotRange[] | undefined> {
    for (const node of nodes) {
      if (node.status !== 'ready') this.tried.add(node);
      const reply = node.call('CLUSTER', 'SLOTS') as Promise<unknown>;
      reply.catch(() => {}); // one given up on below may still fail later
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ANSWER_WITHIN_MS);
        timer.unref();
      });
      try {
        const ranges = slotRanges(await Promise.race([reply, late]));
        if (ranges) {
          this.silent.delete(node);
          return ranges;
        }
        this.silent.add(node);
      } catch {
        this.silent.add(node); // an error reply or a dropped connection: ask the next node
      } finally {
        clearTimeout(timer);
      }
    }
    return undefined;
  }
}

/** How long a node has to answer `CLUSTER SLOTS` before the next one is asked: ioredis' own default for its re-reads (`slotsRefreshTimeout`). */
const ANSWER_WITHIN_MS = 1_000;
/** Nodes asked per read at most. */
const MAX_ASKED = 3;
/** The shortest time between two re-reads of one cluster that a read starts. */
const MIN_REFRESH_GAP_MS = 2_000;

/**
 * The nodes to ask, in order: those whose connection is up (a read costs no new connection), then,
 * when one of those let a read go unanswered (during a failover the only connection up may be to
 * the frozen primary), one node not asked before whose connection was never opened, then the silent
 * ones. Each group in random order. A node whose connection failed is never asked, and none is
 * connected to merely because no connection is up (an idle instance after the topology changed).
 */
function askOrder(nodes: readonly Redis[], silent: WeakSet<Redis>, tried: WeakSet<Redis>): Redis[] {
  const shuffled = [...nodes];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const ready = shuffled.filter((node) => node.status === 'ready');
  const quiet = ready.filter((node) => silent.has(node));
  const extra = quiet.length > 0 ? shuffled.filter((node) => node.status === 'wait' && !tried.has(node)).slice(0, 1) : [];
  return [...ready.filter((node) => !silent.has(node)), ...extra, ...quiet].slice(0, MAX_ASKED);
}

/** A `CLUSTER SLOTS` reply in the shape compared below, or undefined. */
export function slotRanges(reply: unknown): readonly SlotRange[] | undefined {
  const isNode = (node: unknown) => Array.isArray(node) && typeof node[0] === 'string' && (typeof node[1] === 'number' || typeof node[1] === 'string');
  const isRange = (range: unknown) => Array.isArray(range) && range.length >= 3 && Number.isSafeInteger(range[0]) && Number.isSafeInteger(range[1]) && range.slice(2).every(isNode);
  return Array.isArray(reply) && reply.every(isRange) ? (reply as SlotRange[]) : undefined;
}

export type SlotRange = readonly [number, number, ...(readonly [string, number, ...unknown[]])[]];

/**
 * Whether `slots` (ioredis' map: for each slot, the `host:port` keys of its primary and replicas)
 * names the primary that `ranges` (a `CLUSTER SLOTS` reply) names for every slot, keyed as ioredis
 * keys them (an entry with an empty host is skipped, as ioredis skips it). Replicas are left out:
 * commands and sharded subscriptions go to primaries, and nodes list a shard's replicas in orders of
 * their own and leave out one they think failing or still syncing, each by its own view, so
 * comparing them would re-read the topology over a new connection for nothing.
 */
export function sameSlots(slots: readonly (readonly string[] | undefined)[], ranges: readonly SlotRange[]): boolean {
  for (const [start, end, ...nodes] of ranges) {
    const primary = nodes.find(([host]) => host);
    if (!primary) continue; // no primary named: nothing to compare (ioredis leaves such slots empty)
    const expected = `${primary[0]}:${Number(primary[1])}`;
    let last: readonly string[] | undefined | null = null;
    for (let slot = start; slot <= end; slot++) {
      const have = slots[slot];
      if (have === last) continue; // ioredis shares one array across a range
      last = have;
      if (have?.[0] !== expected) return false;
    }
  }
  return true;
}
