/**
 * A revocation applied on an instance whose Redis write has not been confirmed when the instance is
 * told to stop (ECS StopTask, a Kubernetes pod deleted: SIGTERM, then SIGKILL 30 s later by default)
 * is on that instance only: Keycloak does not send a logout again. close() keeps writing it for
 * `closeTimeoutMs` (10 s by default), and does not wait when Redis has everything.
 *
 * Found by a lifecycle review: close() wrote it once more and gave up after 2 s (KccRedis.close cut
 * every component's close at 5 s); with Redis back 8 s after SIGTERM, the other instances kept
 * accepting the session.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger, type KccConnectionOptions, Revocations, type RevocationOptions } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'closing', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'closing-prod';
const claims = (sid: string) => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 60 });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recordingLogger(): KccLogger & { readonly warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (message) => warnings.push(message), info: () => undefined };
}

async function connect(extra: KccConnectionOptions = {}): Promise<KccRedis> {
  // Quick reconnects: the connection is back soon after the proxy heals.
  return closeLater(await KccRedis.connect(kccOptions(server, USER, { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 200, ...extra }), ['subscriber']));
}

async function start(redis: KccRedis, options: RevocationOptions = {}): Promise<Revocations> {
  return closeLater(await Revocations.start(redis, { maxStalenessMs: 3_000, ...options }));
}

/** A (through a proxy) and B (direct) on one app-env. */
async function twoInstances(options: RevocationOptions) {
  const proxy = await TcpProxy.start(server.port);
  const logger = recordingLogger();
  const aRedis = await connect({ url: proxy.url, logger });
  const a = await start(aRedis, options);
  const b = await start(await connect());
  return { proxy, logger, aRedis, a, b };
}

describe('Revocations.close() keeps writing what Redis has not confirmed', () => {
  it('a revocation made during an outage reaches the other instances when Redis is back within closeTimeoutMs', { timeout: 60_000 }, async () => {
    const { proxy, logger, a, b } = await twoInstances({ closeTimeoutMs: 40_000 });
    try {
      proxy.cut();
      const revoked = a.revokeSession('sid-closing').then(
        () => 'written',
        (error: Error) => `rejected: ${error.message}`,
      );
      const closing = a.close();
      // Longer than close() gave it before (2 s): the connection's 20 attempts run out meanwhile.
      await pause(6_000);
      proxy.heal();
      await closing;
      expect(logger.warnings.filter((w) => w.startsWith('closed with'))).toEqual([]);
      await until(() => b.check(claims('sid-closing')) === 'revoked', 'the revocation on b', 10_000);
      // Its first write may have failed (the caller was told so); what it must not hear is that the close gave it up.
      expect(await revoked).not.toMatch(/closed before Redis confirmed/);
    } finally {
      await proxy.stop();
    }
  });

  it('does not wait for closeTimeoutMs when Redis has everything', { timeout: 30_000 }, async () => {
    // The longest deadline there is: a close that waited for it would outlast the test's timeout.
    const { proxy, logger, a, b } = await twoInstances({ closeTimeoutMs: 600_000 });
    try {
      const written = a.revokeSession('sid-healthy'); // in flight when close begins
      await a.close();
      await written;
      expect(logger.warnings).toEqual([]);
      await until(() => b.check(claims('sid-healthy')) === 'revoked', 'the revocation on b');
    } finally {
      await proxy.stop();
    }
  });

  it('gives up after closeTimeoutMs and says how many Redis did not confirm', { timeout: 30_000 }, async () => {
    const { proxy, logger, a } = await twoInstances({ closeTimeoutMs: 500 });
    try {
      proxy.cut();
      const revoked = a.revokeSession('sid-lost').then(
        () => 'written',
        (error: Error) => `${error.name}: ${error.message}`,
      );
      await a.close();
      expect(logger.warnings.filter((w) => w.startsWith('closed with'))).toEqual([
        'closed with 1 revocations Redis did not confirm within closeTimeoutMs (500 ms; not written, or written without an answer in time): the other instances may not have them (those sessions stay valid there until they expire)',
      ]);
      // Its caller learns it at once, not when the connection closes.
      expect(await revoked).toBe('KccClosedError: revocations closed before Redis confirmed this revocation within closeTimeoutMs (500 ms): it is applied on this instance only, which is closing');
    } finally {
      await proxy.stop();
    }
  });

  it.each([
    [-1, 'closeTimeoutMs: -1 must be a whole number of milliseconds from 0 to 600000'],
    [600_001, 'closeTimeoutMs: 600001 must be a whole number of milliseconds from 0 to 600000'],
    [1.5, 'closeTimeoutMs: 1.5 must be a whole number of milliseconds from 0 to 600000'],
  ])('refuses closeTimeoutMs %s, naming it and the range', async (closeTimeoutMs, problem) => {
    const redis = await connect();
    await expect(Revocations.start(redis, { closeTimeoutMs })).rejects.toMatchObject({ code: 'KCC_CONFIG_INVALID', problems: [problem] });
  });
});

describe('KccRedis.close() waits for the revocations on it as long as their closeTimeoutMs', () => {
  it('the app closes the connection, not the revocations: one made during an outage reaches the other instances when Redis is back after 7 s', { timeout: 60_000 }, async () => {
    const { proxy, logger, aRedis, a, b } = await twoInstances({ closeTimeoutMs: 40_000 });
    try {
      proxy.cut();
      void a.revokeSession('sid-connection-closed').catch(() => undefined);
      const closing = aRedis.close(); // closes the revocations on it first
      // Longer than KccRedis.close waited for them before (5 s).
      await pause(7_000);
      proxy.heal();
      await closing;
      expect(logger.warnings.filter((w) => /^closed with|still closing after/.test(w))).toEqual([]);
      await until(() => b.check(claims('sid-connection-closed')) === 'revoked', 'the revocation on b', 10_000);
    } finally {
      await proxy.stop();
    }
  });
});

describe('reconnects while a close is writing', () => {
  it('come at most 0.5 s apart, and back off as configured again once the close is over', { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    // Backoff of 1 to 4 s: every delay as configured is 1 s or more (jitter: half to all of it).
    const aRedis = await connect({ url: proxy.url, reconnectBaseDelayMs: 2_000, reconnectMaxDelayMs: 4_000, logger: recordingLogger() });
    const delays: number[] = [];
    aRedis.on('reconnecting', (role, delayMs) => void (role === 'commands' && delays.push(delayMs)));
    const a = await start(aRedis, { closeTimeoutMs: 40_000 });
    try {
      proxy.cut();
      void a.revokeSession('sid-hurried').catch(() => undefined);
      const closing = a.close();
      await until(() => delays.length >= 4, 'four reconnects of the command connection', 30_000);
      proxy.heal();
      await closing;
      // The first was scheduled before the close began, at the configured backoff.
      expect(Math.max(...delays.slice(1, 4))).toBeLessThanOrEqual(500);

      const before = delays.length;
      proxy.cut();
      await until(() => delays.length >= before + 2, 'two reconnects after the close', 30_000);
      expect(Math.min(...delays.slice(before))).toBeGreaterThanOrEqual(1_000);
      proxy.heal();
    } finally {
      await proxy.stop();
    }
  });

  it('one already scheduled at a backoff longer than closeTimeoutMs is made at once (a review of a95ab88)', { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    const logger = recordingLogger();
    // Every backoff 12 to 24 s, twice the close's deadline and more.
    const aRedis = await connect({ url: proxy.url, reconnectBaseDelayMs: 24_000, reconnectMaxDelayMs: 24_000, logger });
    const scheduled: number[] = [];
    aRedis.on('reconnecting', (role, delayMs) => void (role === 'commands' && scheduled.push(delayMs)));
    const a = await start(aRedis, { closeTimeoutMs: 6_000 });
    const b = await start(await connect());
    try {
      proxy.cut();
      await until(() => scheduled.length > 0, 'the command connection backing off');
      const revoked = a.revokeSession('sid-scheduled').then(() => 'written', (error: Error) => error.name);
      const closing = a.close();
      await pause(1_000);
      proxy.heal();
      await closing;
      // The reconnect waiting its 12 to 24 s ran out the close: given up, with Redis back 5 s before.
      expect(logger.warnings.filter((w) => w.startsWith('closed with'))).toEqual([]);
      expect(await revoked).toBe('written');
      await until(() => b.check(claims('sid-scheduled')) === 'revoked', 'the revocation on b', 10_000);
    } finally {
      await proxy.stop();
    }
  });

  it('the reconnect made at once leaves no timer of ioredis behind that reopens the connection after close() (a review of 48963bd)', { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    // Every backoff 1.5 to 3 s: scheduled before the close, due after it.
    const aRedis = await connect({ url: proxy.url, reconnectBaseDelayMs: 3_000, reconnectMaxDelayMs: 3_000, logger: recordingLogger() });
    const scheduled: number[] = [];
    aRedis.on('reconnecting', (role, delayMs) => void (role === 'commands' && scheduled.push(delayMs)));
    const a = await start(aRedis, { closeTimeoutMs: 20_000 });
    const commands = aRedis.client;
    try {
      proxy.cut();
      await until(() => scheduled.length > 0, 'the command connection backing off');
      void a.revokeSession('sid-no-zombie').catch(() => undefined);
      const closing = aRedis.close(); // the early reconnect fails: the proxy is still cut
      await pause(1_000);
      proxy.heal();
      await closing;
      await until(() => commands.status === 'end', 'the command connection ended');
      // Past the longest backoff scheduled before the close: a timer left running would have reconnected by now.
      await pause(3_500);
      expect(commands.status).toBe('end');
    } finally {
      await proxy.stop();
    }
  });
});
