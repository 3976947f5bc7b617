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
  /** Re-reads started because a cluster's slot map differed from a node's answer. */
  refreshes = 0;

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

  /** One read; resolves whether any follower was told to re-read. Never rejects. */
  async check(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    try {
      const cluster = this.asker();
      if (!cluster || cluster.status !== 'ready') return false;
      const answer = await this.firstAnswer(askOrder(cluster.nodes('all'), this.silent));
      if (!answer) return false;
      let told = false;
      for (const follower of this.followers()) {
        if (follower.status !== 'ready' || sameSlots(follower.slots, answer)) continue;
        follower.refreshSlotsCache();
        this.refreshes++;
        told = true;
      }
      return told;
    } finally {
      this.running = false;
    }
  }

  private async firstAnswer(nodes: readonly Redis[]): Promise<readonly SlotRange[] | undefined> {
    for (const node of nodes) {
      const reply = node.call('CLUSTER', 'SLOTS') as Promise<unknown>;
      reply.catch(() => {}); // one given up on below may still fail later
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ANSWER_WITHIN_MS);
        timer.unref();
      });
      try {
        const ranges = await Promise.race([reply, late]);
        if (Array.isArray(ranges)) {
          this.silent.delete(node);
          return ranges as SlotRange[];
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
export const ANSWER_WITHIN_MS = 1_000;
/** Nodes asked per read at most. */
const MAX_ASKED = 3;

/** Nodes whose connection is up first (no new connection for a read), then the others, then the silent ones; each group in random order. */
function askOrder(nodes: readonly Redis[], silent: WeakSet<Redis>): Redis[] {
  const shuffled = [...nodes];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  const rank = (node: Redis) => (silent.has(node) ? 2 : node.status === 'ready' ? 0 : 1);
  return shuffled.sort((a, b) => rank(a) - rank(b)).slice(0, MAX_ASKED);
}

export type SlotRange = readonly [number, number, ...(readonly [string, number, ...unknown[]])[]];

/**
 * Whether `slots` (ioredis' map: for each slot, the `host:port` keys of its primary and replicas)
 * says what `ranges` (a `CLUSTER SLOTS` reply) says, keyed as ioredis keys them (an empty host
 * entry is skipped, as ioredis skips it).
 */
export function sameSlots(slots: readonly (readonly string[] | undefined)[], ranges: readonly SlotRange[]): boolean {
  for (const [start, end, ...nodes] of ranges) {
    const expected = nodes.filter(([host]) => host).map(([host, port]) => `${host}:${Number(port)}`).join(';');
    let last: readonly string[] | undefined | null = null;
    for (let slot = start; slot <= end; slot++) {
      const have = slots[slot];
      if (have === last) continue; // ioredis shares one array across a range
      last = have;
      if (have?.join(';') !== expected) return false;
    }
  }
  return true;
}
