/**
 * requireNotRevoked's wait for a stale revocation state to be current again (`staleWaitMs`): stale
 * requests share one wait for the revocations' `fresh` event; once a wait has run out, stale requests
 * are answered at once until `fresh`, or until the process was paused (a freeze); after either, the
 * next stale request waits again. The instance is
 * cut off from Redis by a TCP proxy (real redis-server, TLS, the app-env's ACL user). Waits are
 * observed through the listeners of `fresh` (one per waiting period: it stays while given up) or
 * as a request still unanswered half a second on while Redis stays cut off, never by measuring durations.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccConfigError, type RevocationClaims } from '../../../client/src/index.js';
import { requireNotRevoked } from '../../../client/src/fastify/index.js';
import { pause } from '../../../client/src/time-limit.js';
import { PAUSE_MS } from '../../../client/src/pause-watch.js';
import { stallProcess } from '../../support/stall.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { appWith, connectionTo, pluginOptions, useRedisAndRealm } from './support.js';

const now = () => Math.floor(Date.now() / 1000);
const CLAIMS: RevocationClaims = { sid: 'a-session', sub: 'alice', iat: now() };

describe('requireNotRevoked: options', () => {
  it.each([
    [{ staleWaitMs: -1 }, 'staleWaitMs: -1 must be a whole number of milliseconds from 0 to 30000'],
    [{ staleWaitMs: 30_001 }, 'staleWaitMs: 30001 must be a whole number of milliseconds from 0 to 30000'],
    [{ staleWaitMs: '2000' }, 'staleWaitMs: "2000" must be a whole number of milliseconds from 0 to 30000'],
    [{ staleWait: 2000 }, 'staleWait: not an option; did you mean staleWaitMs?'],
  ])('%o is refused, naming the option', (options, problem) => {
    expect(() => requireNotRevoked(() => CLAIMS, options as never)).toThrow(KccConfigError);
    expect(() => requireNotRevoked(() => CLAIMS, options as never)).toThrow(problem);
  });

  it('an options value that is not an object is refused with the call to make', () => {
    expect(() => requireNotRevoked(() => CLAIMS, 2000 as never)).toThrow(/requireNotRevoked options.*requireNotRevoked\(getClaims, \{ staleWaitMs: 2000 \}\)/s);
  });
});

/** `/short`'s staleWaitMs. */
const SHORT_WAIT_MS = 2_000;

describe('requireNotRevoked: a stale state waits for fresh, within staleWaitMs', () => {
  const { server, realm } = useRedisAndRealm();

  /**
   * An app behind a proxy, stale 1.5 s after the proxy cuts; `/wait` waits up to 30 s, `/short` 2 s.
   * (With 300 ms, a full run on a loaded machine once found the state stale again right after `fresh`:
   * the catch-up read that made it fresh had taken nearly 300 ms, and staleness counts from a read's start.)
   */
  async function cutOffApp(): Promise<{ app: FastifyInstance; proxy: TcpProxy; arrivals: () => number }> {
    const proxy = await TcpProxy.start(server.port);
    let arrivals = 0;
    const claimsOf = (request: FastifyRequest): RevocationClaims => {
      arrivals++;
      return JSON.parse(request.headers['x-test-claims'] as string) as RevocationClaims;
    };
    const app = await appWith(
      pluginOptions(server, realm, {
        connection: { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 },
        revocations: { maxStalenessMs: 1_500 },
      }),
      (app) => {
        app.get('/wait', { preHandler: requireNotRevoked(claimsOf, { staleWaitMs: 30_000 }) }, async () => ({ ok: true }));
        app.get('/short', { preHandler: requireNotRevoked(claimsOf, { staleWaitMs: SHORT_WAIT_MS }) }, async () => ({ ok: true }));
      },
    );
    return { app, proxy, arrivals: () => arrivals };
  }
  const get = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url, headers: { 'x-test-claims': JSON.stringify(CLAIMS) } });
  const freshListeners = (app: FastifyInstance) => app.kcc.revocations.listenerCount('fresh');
  /**
   * The status of `response`, or 'still open' if it has none after `ms`. Answered at once (given up),
   * a request of `/wait` has its 503 within milliseconds; waiting, it stays open until fresh or its
   * 30 s: 10 s tells the two apart on a loaded machine, and half a second shows one still open.
   */
  const statusWithin = (response: ReturnType<typeof get>, ms: number) => Promise.race([response.then((r) => r.statusCode), pause(ms).then(() => 'still open')]);
  const AT_ONCE_MS = 10_000;

  /** Runs `test` on an app that is stale, its proxy cut; closes both after. */
  async function whileCutOff(test: (app: FastifyInstance, proxy: TcpProxy, arrivals: () => number) => Promise<void>): Promise<void> {
    const { app, proxy, arrivals } = await cutOffApp();
    try {
      const stale = nextEvent(app.kcc.revocations, 'stale');
      proxy.cut();
      await stale;
      await test(app, proxy, arrivals);
    } finally {
      await app.close();
      await proxy.stop();
    }
  }

  it('concurrent stale requests share one wait, and are served once the state is fresh again', () =>
    whileCutOff(async (app, proxy, arrivals) => {
      const base = freshListeners(app);
      const responses = Array.from({ length: 5 }, () => get(app, '/wait'));
      await until(() => arrivals() === 5, 'the five requests at the check');
      expect(freshListeners(app)).toBe(base + 1);
      proxy.heal();
      expect((await Promise.all(responses)).map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
      expect(freshListeners(app)).toBe(base);
    }));

  it('a request is held no longer than its own staleWaitMs while a longer wait of another route is under way (a review of 4669bbb)', () =>
    whileCutOff(async (app, proxy, arrivals) => {
      const long = get(app, '/wait').then((r) => ({ route: '/wait', status: r.statusCode }));
      await until(() => arrivals() === 1, 'the /wait request at the check');
      const short = get(app, '/short').then((r) => ({ route: '/short', status: r.statusCode }));
      // The shared wait's bound was /wait's 30 s: /short was held until fresh came.
      expect(await Promise.race([long, short])).toEqual({ route: '/short', status: 503 });
      proxy.heal();
      expect(await long).toEqual({ route: '/wait', status: 200 });
    }));

  it('once a wait has run out, stale requests are answered 503 at once until fresh; after it, a stale request waits again', () =>
    whileCutOff(async (app, proxy) => {
      const timedOut = await get(app, '/short');
      expect(timedOut.statusCode).toBe(503);
      expect(timedOut.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'revocation state is stale' });
      expect(await statusWithin(get(app, '/wait'), AT_ONCE_MS)).toBe(503); // given up: answered at once

      const fresh = nextEvent(app.kcc.revocations, 'fresh');
      proxy.heal();
      await fresh;
      await untilAsync(async () => (await get(app, '/short')).statusCode === 200, 'served again once fresh');

      const staleAgain = nextEvent(app.kcc.revocations, 'stale');
      proxy.cut();
      await staleAgain;
      const waiting = get(app, '/wait');
      expect(await statusWithin(waiting, 500)).toBe('still open');
      proxy.heal();
      expect((await waiting).statusCode).toBe(200);
    }));

  it('after a quiet period a stale request is still answered at once; after a pause of the process (a freeze right after a 503) it waits again, though fresh never came', () =>
    whileCutOff(async (app, proxy) => {
      expect((await get(app, '/short')).statusCode).toBe(503);
      await pause(SHORT_WAIT_MS + 1_000); // quiet, the process running
      expect(await statusWithin(get(app, '/wait'), AT_ONCE_MS)).toBe(503);
      stallProcess(PAUSE_MS + 500); // what a freeze looks like from inside
      expect(app.kcc.revocations.stale).toBe(true); // no fresh meanwhile
      const waiting = get(app, '/wait');
      expect(await statusWithin(waiting, 500)).toBe('still open');
      proxy.heal();
      expect((await waiting).statusCode).toBe(200);
    }));
});

describe('requireNotRevoked: a poll of the log in flight when the process is paused', () => {
  const { server, realm } = useRedisAndRealm();

  // A review of the after-a-freeze work: at the thaw the overdue poll joined the poll in flight, which
  // counts its contact from its start, before the pause: the state stayed stale until the next poll
  // (maxStalenessMs / 3: 5 s at the defaults, here 2 s), past the request's staleWaitMs (2 s, here 1 s),
  // so the request that thawed the process was answered 503, though Redis answered throughout.
  it('the request that thaws it is served: one more poll follows the one in flight', async () => {
    const app: FastifyInstance = await appWith(pluginOptions(server, realm, { revocations: { maxStalenessMs: 6_000 } }), (app) => {
      app.get('/me', { preHandler: requireNotRevoked(() => CLAIMS, { staleWaitMs: 1_000 }) }, async () => ({ ok: true }));
    });
    try {
      expect((await app.inject('/me')).statusCode).toBe(200);
      // A poll under way, its first read sent (what the poll's timer begins), then frozen past maxStalenessMs.
      void (app.kcc.revocations as unknown as { catchUp(): Promise<void> }).catchUp().catch(() => undefined);
      stallProcess(6_500);
      expect(app.kcc.revocations.stale).toBe(true);
      expect((await app.inject('/me')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
