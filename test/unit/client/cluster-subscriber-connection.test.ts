import { type AddressInfo, type Socket, createServer } from 'node:net';
import { Cluster, Redis, ReplyError } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';
import { Subscriptions } from '../../../client/src/subscriptions.js';
import { until } from '../../support/events.js';

const clusters: Cluster[] = [];
afterEach(() => {
  for (const cluster of clusters.splice(0)) cluster.disconnect();
});

/** A cluster of the installed ioredis that never connects (nothing listens on port 1). */
function lazyCluster(shardedSubscribers: boolean): Cluster {
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, shardedSubscribers });
  clusters.push(cluster);
  return cluster;
}

/** Replaces the classic subscriber by an object of another shape (what disconnect() calls is kept). */
function elsewhere(cluster: Cluster): void {
  (cluster as unknown as { subscriber: unknown }).subscriber = { stop() {}, connection: null };
}

/** Resolves once no confirmation loop of `subscriptions` runs for `cluster` (so a count checked next is final). */
async function confirmationsIdle(subscriptions: Subscriptions, cluster: Cluster): Promise<void> {
  const states = (subscriptions as unknown as { confirming: WeakMap<Cluster, Record<string, { running: boolean }>> }).confirming;
  await until(() => Object.values(states.get(cluster) ?? {}).every((state) => !state.running), 'no confirmation loop running');
}

describe("a cluster's classic subscriber connection, read from ioredis' internals", () => {
  it('is found in the installed ioredis once ioredis opened it (a dependency update that moves it fails here)', () => {
    // It never connects: the node is never dialled (a lazy connection, no channel subscribed).
    const cluster = lazyCluster(true);
    const internals = cluster as unknown as { connectionPool: { reset(nodes: { host: string; port: number }[]): void }; subscriber: { start(): void } };
    expect(clusterSubscriberConnection(cluster)).toEqual({ known: true, connection: undefined });
    internals.connectionPool.reset([{ host: '127.0.0.1', port: 1 }]);
    internals.subscriber.start();
    const { known, connection } = clusterSubscriberConnection(cluster);
    expect(known).toBe(true);
    expect(connection).toBeInstanceOf(Redis);
    expect(connection!.status).toBe('wait');
    expect(connection!.options.connectionName).toBe('ioredis-cluster(subscriber)');
    expect(connection!.options.port).toBe(1);
  });

  it('an ioredis that keeps it elsewhere is told apart, not taken for a cluster without one', () => {
    const moved = lazyCluster(false);
    elsewhere(moved);
    expect(clusterSubscriberConnection(moved).known).toBe(false);
    const foreign = lazyCluster(false);
    (foreign as unknown as { subscriber: unknown }).subscriber = { stop() {}, getInstance: () => ({ status: 'ready' }) };
    expect(clusterSubscriberConnection(foreign)).toEqual({ known: false, connection: undefined });
  });

  it('Subscriptions says once, not at every PING interval, that it cannot PING it; in sharded mode it does not look (ioredis PINGs those itself)', async () => {
    for (const mode of ['classic', 'sharded'] as const) {
      const cluster = lazyCluster(true);
      let looked = 0;
      Object.defineProperty(cluster, 'subscriber', {
        get: () => {
          looked++;
          return { stop() {} };
        },
      });
      const warnings: string[] = [];
      const subscriptions = new Subscriptions({
        openConnection: () => Promise.resolve(cluster),
        mode: () => Promise.resolve(mode),
        keyPrefix: 'a-b:',
        logger: { info() {}, warn: (message: string) => void warnings.push(message) },
        onResubscribed() {},
        pingIntervalMs: 10,
        onPingUnanswered() {},
      });
      await subscriptions.open();
      if (mode === 'classic') {
        await until(() => looked >= 4, 'four PING rounds');
        subscriptions.close();
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/cannot reach ioredis' classic cluster subscriber connection to PING it/);
      } else {
        // Four intervals go by: nothing looked at, nothing said.
        let ticks = 0;
        const ticker = setInterval(() => void ticks++, 10);
        await until(() => ticks >= 4, 'four intervals');
        clearInterval(ticker);
        subscriptions.close();
        expect(looked).toBe(0);
        expect(warnings).toEqual([]);
      }
    }
  });

  for (const readyCheck of [false, true]) {
    it(
      readyCheck
        ? 'one whose ready check (INFO) is never answered: closed once it has been connected but unready for an interval, reported once, subscribed again through the cluster'
        : "a classic cluster subscriber (no socket timeout of its own) whose peer never answers PING: closed at the PING's deadline at once (not after ioredis' disconnect timeout), reported once, and subscribed again through the cluster",
      async () => {
        const peer = await silentPeer();
        const { silent, cluster, subscribed, rounds, subscriptions, reports, close } = await classicSubscriberOn(peer, { readyCheck });
        try {
          expect(silent.status).toBe(readyCheck ? 'connect' : 'ready');
          await subscriptions.add('a-b:probe', () => undefined);
          // The listener's SUBSCRIBE went through the cluster (replaced here); the connection itself stays silent.
          expect(subscribed).toEqual([['a-b:probe']]);
          await until(() => silent.status === 'end', 'the silent connection closed');
          expect(reports.unanswered).toEqual([peer.node]);
          await until(() => reports.resubscribed === 1, 'the channels subscribed again and reported');
          expect(subscribed).toEqual([['a-b:probe'], ['a-b:probe']]);
          await confirmationsIdle(subscriptions, cluster);
          expect(reports.resubscribed).toBe(1);
          const seen = rounds();
          await until(() => rounds() >= seen + 5, 'five more looks at the connections');
          expect(reports.unanswered).toHaveLength(1);
        } finally {
          await close();
        }
      },
    );
  }

  it('a PING left unanswered by a connection ioredis has already moved off (another node picked meanwhile): neither closed nor reported by the client', async () => {
    // The cluster hands the connection out for the first PING round only: by that PING's deadline ioredis has picked another.
    const { silent, rounds, subscriptions, reports, close } = await classicSubscriberOn(await silentPeer(), { handedOutOnce: true });
    try {
      await subscriptions.add('a-b:probe', () => undefined);
      const seen = rounds();
      await until(() => rounds() >= seen + 5, 'five more looks at the connections');
      expect(reports.unanswered).toEqual([]);
      expect(silent.status).toBe('ready');
    } finally {
      await close();
    }
  });

  it('a second silent successor while the first confirmation still waits: one confirmation loop goes round once more and reports once', async () => {
    const peer = await silentPeer();
    const held: (() => void)[] = [];
    const { silent, cluster, subscribed, subscriptions, reports, handOut, close } = await classicSubscriberOn(peer, { hold: (release) => held.push(release) });
    try {
      const adding = subscriptions.add('a-b:probe', () => undefined);
      await until(() => held.length === 1, "the listener's SUBSCRIBE");
      held.shift()!();
      await adding;
      // The first connection is closed; the confirmation's SUBSCRIBE waits (held) while the next one goes silent too.
      await until(() => silent.status === 'end' && held.length === 1, 'the first connection closed and its confirmation waiting');
      const second = await peer.connection();
      handOut(second);
      await until(() => second.status === 'end', 'the second connection closed');
      expect(reports.unanswered).toEqual([peer.node, peer.node]);
      held.shift()!();
      await until(() => held.length === 1, 'the loop round once more');
      held.shift()!();
      await until(() => reports.resubscribed > 0, 'the report');
      await confirmationsIdle(subscriptions, cluster);
      expect(subscribed).toHaveLength(3);
      expect(reports.resubscribed).toBe(1);
    } finally {
      await close();
    }
  });

  for (const how of ['reset by its node', 'closed by ioredis (its node left the topology)'] as const) {
    it(`one that ends, ${how}: ioredis' successor is watched in turn, and each time the channels are subscribed again through the cluster and reported once (ioredis re-subscribes by itself but tells nobody)`, async () => {
      await withProbeListened({}, async ({ silent: first, cluster, subscribed, subscriptions, reports, handOut, peer }) => {
        expect(subscribed).toEqual([['a-b:probe']]);
        // As ioredis does: a connection that ends by itself is replaced by ioredis' own 'end' listener,
        // added when it made the connection (so before the client's); one whose node left the
        // topology is replaced first, then disconnected. The successor is lazy, not connected yet.
        const second = peer.lazyConnection();
        const third = peer.lazyConnection();
        if (how === 'reset by its node') {
          first.prependOnceListener('end', () => handOut(second));
          second.prependOnceListener('end', () => handOut(third));
          peer.reset();
        } else {
          handOut(second);
          first.disconnect();
        }
        await until(() => reports.resubscribed === 1, 'the channels subscribed again after the first ended');
        expect(subscribed).toEqual([['a-b:probe'], ['a-b:probe']]);
        if (how !== 'reset by its node') handOut(third);
        second.disconnect();
        await until(() => reports.resubscribed === 2, 'and again after its successor ended');
        expect(subscribed).toHaveLength(3);
        // Once each: the third is watched (its end would be a third report), nothing else came.
        third.disconnect();
        await until(() => reports.resubscribed === 3, 'and after the third ended');
        await confirmationsIdle(subscriptions, cluster);
        expect(subscribed).toHaveLength(4);
        expect(reports.resubscribed).toBe(3);
        // Not a socket timeout: nothing went unanswered.
        expect(reports.unanswered).toEqual([]);
      });
    });
  }

  it("a successor whose SUBSCRIBE the cluster refuses for a while (ioredis' own is not retried): tried again until it holds, then reported once", async () => {
    await withProbeListened({ refusals: 2 }, async ({ silent: first, cluster, subscribed, subscriptions, reports, handOut, peer }) => {
      const second = peer.lazyConnection();
      first.prependOnceListener('end', () => handOut(second));
      first.disconnect();
      await until(() => reports.resubscribed === 1, 'subscribed again and reported');
      await confirmationsIdle(subscriptions, cluster);
      // The listener's, two refused, one that held: reported only once it held, and the refusal said once.
      expect(subscribed).toHaveLength(4);
      expect(reports.resubscribed).toBe(1);
      expect(reports.warnings).toEqual([expect.stringMatching(/^subscribing the channels again \(classic pub\/sub\) after the subscriber connection changed was refused; retrying until it holds ReplyError: NOPERM/)]);
    });
  });

  it('a successor whose SUBSCRIBE meets a slot on the move (MOVED, a passing state of a cluster): tried again without a warning', async () => {
    await withProbeListened({ refusals: 2, refusal: 'MOVED 1234 127.0.0.1:7001' }, async ({ silent: first, subscribed, reports, handOut, peer }) => {
      handOut(peer.lazyConnection());
      first.disconnect();
      await until(() => reports.resubscribed === 1, 'subscribed again and reported');
      expect(subscribed).toHaveLength(4);
      expect(reports.warnings).toEqual([]);
    });
  });

  it('one that ends while the cluster is not ready: nothing is sent then; on the cluster\'s ready its new classic subscriber is watched and the channels are confirmed (retried while refused) and reported once', async () => {
    await withProbeListened({ refusals: 1 }, async ({ silent: first, cluster, subscribed, subscriptions, reports, handOut, peer }) => {
      // The whole cluster lost its nodes: ioredis stops its classic subscriber (no successor yet).
      (cluster as { status: string }).status = 'reconnecting';
      handOut(null);
      first.disconnect();
      await until(() => first.status === 'end', 'the subscriber ended');
      // ioredis emits 'end' on the next tick; the client's handler ran by the time the test looks again.
      await new Promise((resolve) => setImmediate(resolve));
      expect(subscribed).toHaveLength(1);
      // The cluster is back with a new subscriber.
      const second = peer.lazyConnection();
      handOut(second);
      (cluster as { status: string }).status = 'ready';
      cluster.emit('ready');
      await until(() => reports.resubscribed === 1, 'confirmed and reported');
      // The listener's, one refused, one that held.
      expect(subscribed).toHaveLength(3);
      // Watched from the cluster's ready on.
      second.disconnect();
      await until(() => reports.resubscribed === 2, 'its end confirmed too');
      await confirmationsIdle(subscriptions, cluster);
      expect(reports.resubscribed).toBe(2);
    });
  });

  it('a confirmation under way when the whole cluster stops being ready: it stops sending (no SUBSCRIBE queued for the reconnect), and the cluster\'s ready confirms once', async () => {
    await withProbeListened({ refusals: 1 }, async ({ silent: first, cluster, subscribed, subscriptions, reports, handOut, peer }) => {
      handOut(peer.lazyConnection());
      first.disconnect();
      await until(() => reports.warnings.length === 1, "the confirmation's first SUBSCRIBE refused");
      (cluster as { status: string }).status = 'reconnecting';
      await confirmationsIdle(subscriptions, cluster);
      expect(subscribed).toHaveLength(2);
      expect(reports.resubscribed).toBe(0);
      (cluster as { status: string }).status = 'ready';
      cluster.emit('ready');
      await until(() => reports.resubscribed === 1, 'confirmed on ready and reported');
      expect(subscribed).toHaveLength(3);
      await confirmationsIdle(subscriptions, cluster);
      expect(reports.resubscribed).toBe(1);
    });
  });

  it("a successor's end after a renewal, while the confirmation for the replaced cluster still waits: confirmed on the new cluster at once, reported once (the replaced cluster's loop ends without a report)", async () => {
    const peer = await silentPeer();
    const held: (() => void)[] = [];
    const a = await classicSubscriberOn(peer, { pingIntervalMs: 600_000, hold: (release) => held.push(release) });
    try {
      const adding = a.subscriptions.add('a-b:probe', () => undefined);
      await until(() => held.length === 1, "the listener's SUBSCRIBE");
      held.shift()!();
      await adding;
      // A's subscriber ends: its confirmation's SUBSCRIBE waits.
      a.handOut(peer.lazyConnection());
      a.silent.disconnect();
      await until(() => held.length === 1, "the confirmation's SUBSCRIBE on A");
      // The renewal moves the subscriptions to B (answered at once); then B's subscriber ends too.
      const b = lazyCluster(false);
      (b as { status: string }).status = 'ready';
      const bFirst = peer.lazyConnection();
      let bCurrent: Redis = bFirst;
      Object.defineProperty(b, 'subscriber', { get: () => ({ stop() {}, getInstance: () => bCurrent }) });
      const onB: string[][] = [];
      b.subscribe = ((...channels: string[]) => {
        onB.push(channels);
        return Promise.resolve(channels.length);
      }) as Cluster['subscribe'];
      await a.renew(b);
      expect(onB).toEqual([['a-b:probe']]);
      bCurrent = peer.lazyConnection();
      bFirst.disconnect();
      await until(() => a.reports.resubscribed === 1, 'confirmed on B and reported');
      expect(onB).toEqual([['a-b:probe'], ['a-b:probe']]);
      // A's loop, released, ends without a report (A is no longer the connection).
      held.shift()!();
      await confirmationsIdle(a.subscriptions, a.cluster);
      await confirmationsIdle(a.subscriptions, b);
      expect(a.reports.resubscribed).toBe(1);
      expect(onB).toHaveLength(2);
    } finally {
      await a.close();
    }
  });
});

describe('a channel added while a renewal moves the subscriptions', () => {
  // From a review of 278159a: add() took the connection, then registered its channel; a renewal's last
  // check of what its successor lacks could fall between the two, and the channel stayed on the old
  // connection only. Every point of the renewal's sequence is tried: k microtask hops after the
  // successor's SUBSCRIBE is answered.
  it('ends up on the successor, wherever in the renewal the add() lands', async () => {
    for (let k = 0; k <= 24; k++) {
      const peer = await silentPeer();
      const a = await classicSubscriberOn(peer, { pingIntervalMs: 600_000 });
      try {
        await a.subscriptions.add('a-b:first', () => undefined);
        const b = lazyCluster(false);
        (b as { status: string }).status = 'ready';
        const bConnection = peer.lazyConnection();
        Object.defineProperty(b, 'subscriber', { get: () => ({ stop() {}, getInstance: () => bConnection }) });
        const onB: string[] = [];
        let answer!: () => void;
        const answered = new Promise<void>((resolve) => (answer = resolve));
        let held!: () => void;
        const holding = new Promise<void>((resolve) => (held = resolve));
        b.subscribe = ((...channels: string[]) => {
          onB.push(...channels);
          if (onB.length > 1) return Promise.resolve(channels.length);
          held();
          return answered.then(() => channels.length);
        }) as Cluster['subscribe'];
        const renewing = a.renew(b);
        await holding;
        answer();
        for (let hop = 0; hop < k; hop++) await Promise.resolve();
        const adding = a.subscriptions.add('a-b:second', () => undefined);
        await renewing;
        await adding;
        expect({ k, onB }).toEqual({ k, onB: expect.arrayContaining(['a-b:first', 'a-b:second']) });
      } finally {
        await a.close();
      }
    }
  });
});

/** A TCP peer that accepts connections and never answers; `connection()` opens an ioredis connection to it. */
async function silentPeer() {
  const accepted = new Set<Socket>();
  const opened: Redis[] = [];
  const peer = createServer((socket) => {
    accepted.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const { port } = peer.address() as AddressInfo;
  return {
    node: `127.0.0.1:${port}`,
    /**
     * Without a ready check it is 'ready' at once (no AUTH, HELLO or CLIENT SETINFO) and every PING
     * hangs; with one it stays 'connect'. Its disconnect timeout is ten minutes, so only a destroyed
     * socket ends it in time.
     */
    async connection(readyCheck = false): Promise<Redis> {
      const connection = new Redis({ host: '127.0.0.1', port, enableReadyCheck: readyCheck, protocol: 2, disableClientInfo: true, retryStrategy: null, disconnectTimeout: 600_000, lazyConnect: true });
      connection.on('error', () => undefined);
      opened.push(connection);
      const connecting = connection.connect().catch(() => undefined);
      if (readyCheck) await until(() => connection.status === 'connect', 'connected, waiting for INFO');
      else await connecting;
      return connection;
    },
    /** A connection to it not connected yet (as ioredis makes its successor: lazily). */
    lazyConnection(): Redis {
      const connection = new Redis({ host: '127.0.0.1', port, enableReadyCheck: false, retryStrategy: null, lazyConnect: true });
      connection.on('error', () => undefined);
      opened.push(connection);
      return connection;
    },
    /** Resets every connection it accepted (a node that restarted). */
    reset(): void {
      for (const socket of accepted) socket.destroy();
    },
    async close(): Promise<void> {
      for (const connection of opened) connection.disconnect();
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => peer.close(resolve));
    },
  };
}

/**
 * Subscriptions on a cluster (of the installed ioredis, never connected) whose classic subscriber
 * connection is one to `peer`, handed out until `handOut` names another (`handedOutOnce`: handed
 * out once, then none, as when ioredis has moved on). The cluster's SUBSCRIBE is recorded and
 * answered at once, or when the test calls the release `hold` is given; after the listener's own,
 * the first `refusals` are refused (as a node refuses a channel the user may not use), with the
 * error reply `refusal` (NOPERM unless given).
 */
async function classicSubscriberOn(
  peer: Awaited<ReturnType<typeof silentPeer>>,
  options: { readyCheck?: boolean; handedOutOnce?: boolean; hold?: (release: () => void) => void; refusals?: number; refusal?: string; pingIntervalMs?: number } = {},
) {
  let current: Redis | null = await peer.connection(options.readyCheck);
  const silent = current;
  const cluster = lazyCluster(false);
  // As a cluster that serves commands: only then is a classic subscriber that ended confirmed here
  // (one that is not ready subscribes every channel again when it is, on its 'ready').
  (cluster as { status: string }).status = 'ready';
  let looked = 0;
  let handedOut = 0;
  Object.defineProperty(cluster, 'subscriber', {
    get: () => {
      looked++;
      return { stop() {}, getInstance: () => (options.handedOutOnce && handedOut++ > 0 ? null : current) };
    },
  });
  const subscribed: string[][] = [];
  let refusals = options.refusals ?? 0;
  cluster.subscribe = ((...channels: string[]) => {
    subscribed.push(channels);
    if (subscribed.length > 1 && refusals > 0) {
      refusals--;
      return Promise.reject(new ReplyError(options.refusal ?? 'NOPERM this user has no permissions to access one of the channels used as arguments'));
    }
    const { hold } = options;
    return hold ? new Promise((resolve) => hold(() => resolve(channels.length))) : Promise.resolve(channels.length);
  }) as Cluster['subscribe'];
  const reports = { resubscribed: 0, unanswered: [] as string[], warnings: [] as string[] };
  let renew: ((next: Cluster) => Promise<void>) | undefined;
  const subscriptions = new Subscriptions({
    openConnection: (onRenew) => {
      renew = onRenew;
      return Promise.resolve(cluster);
    },
    mode: () => Promise.resolve('classic'),
    keyPrefix: 'a-b:',
    logger: { info() {}, warn: (message: string, fields?: { error?: string }) => void reports.warnings.push(`${message} ${fields?.error ?? ''}`) },
    onResubscribed: () => void reports.resubscribed++,
    pingIntervalMs: options.pingIntervalMs ?? 50,
    onPingUnanswered: (node) => void reports.unanswered.push(node),
  });
  return {
    silent,
    subscribed,
    /** How many times the client looked at the cluster's subscriber connections (each PING round, each deadline). */
    rounds: () => looked,
    subscriptions,
    reports,
    cluster,
    handOut: (connection: Redis | null) => void (current = connection),
    /** A renewal: the subscriptions move to `next`. */
    renew: (next: Cluster) => renew!(next),
    close: async () => {
      subscriptions.close();
      await peer.close();
    },
  };
}

/**
 * {@link classicSubscriberOn} a fresh silent peer with no PING round (the connections are watched
 * from the listener's SUBSCRIBE on), the listener `a-b:probe` added; runs `body`, then closes.
 */
async function withProbeListened(
  options: Parameters<typeof classicSubscriberOn>[1],
  body: (harness: Awaited<ReturnType<typeof classicSubscriberOn>> & { peer: Awaited<ReturnType<typeof silentPeer>> }) => Promise<void>,
): Promise<void> {
  const peer = await silentPeer();
  const harness = await classicSubscriberOn(peer, { pingIntervalMs: 600_000, ...options });
  try {
    await harness.subscriptions.add('a-b:probe', () => undefined);
    await body({ ...harness, peer });
  } finally {
    await harness.close();
  }
}
