/**
 * An on-call review: in a Redis outage the log said "revocation state is stale" and "key ring not
 * read" with no cause, the first cause came about 50 s later in ioredis' words ("Reached the max
 * retries per request limit ... Refer to maxRetriesPerRequest"), and nothing said the outage ended.
 * A connection that had been ready now says its failure with the error (at most once a minute per
 * role) and its end once; the stale warning carries the last connection error. Real redis-server
 * (TLS, ACL users) behind a TCP proxy that cuts every connection and refuses new ones.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { errorLine } from '../../../client/src/redis-error-redaction.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { secretsIn } from '../../support/secret-scan.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'outage-prod';
const server = useTestRedis({ appEnvs: [{ app: 'outage', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

interface Line {
  readonly message: string;
  readonly context?: Record<string, unknown>;
}

describe('a Redis outage, as the log tells it', () => {
  it('each connection says its failure with the error, once, and its end; the stale warning names the last connection error; no password', async () => {
    const proxy = await TcpProxy.start(server.port);
    closeLater({ close: () => proxy.stop() });
    const lines: Line[] = [];
    const logger = { warn: (message: string, context?: Record<string, unknown>) => void lines.push({ message, context }), info: () => undefined };
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, logger, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100 }), ['subscriber']));
    closeLater(await Revocations.start(redis, { maxStalenessMs: 1_000 }));
    expect(lines).toEqual([]);

    proxy.cut();
    await until(() => lines.some((line) => line.message.startsWith('revocation state is stale')), 'the stale warning', 20_000);
    const failures = lines.filter((line) => / connection to 127\.0\.0\.1:\d+ failed: reconnecting/.test(line.message));
    // Every role open at the cut says it, once: reconnect attempts go on every 100 ms or less meanwhile.
    expect(failures.map((line) => line.message.split(' ')[1]).sort()).toEqual(['commands', 'subscriber']);
    for (const failure of failures) expect(failure.context).toEqual({ error: expect.stringMatching(/\S/) });
    const stale = lines.find((line) => line.message.startsWith('revocation state is stale'))!;
    expect(stale.context).toEqual({ lastConnectionError: expect.stringMatching(/\S/) });

    proxy.heal();
    const worksAgain = () => lines.filter((line) => / connection to 127\.0\.0\.1:\d+ works again, \d+ s after it failed$/.test(line.message));
    await until(() => worksAgain().length === 2, 'both connections said to work again', 20_000);
    expect(lines.filter((line) => / connection to .* failed: /.test(line.message))).toHaveLength(2);

    // Failing and recovering over and over within the minute: not said again (an attack review: 8
    // cut-and-heal cycles in 2 s gave 16 warnings).
    for (let cycle = 0; cycle < 4; cycle++) {
      const reconnects = redis.stats.reconnects;
      proxy.cut();
      await until(() => redis.stats.reconnects > reconnects, 'a reconnect attempt', 20_000);
      proxy.heal();
      await until(() => redis.client.status === 'ready', 'the connection back', 20_000);
    }
    expect(lines.filter((line) => / connection to .* failed: /.test(line.message))).toHaveLength(2);
    expect(worksAgain()).toHaveLength(2);
    expect(secretsIn(lines, [server.users.get(USER)!.password])).toEqual([]);
  });

  it('the stale warning names the cause of this outage, not one already over: a connection back clears it, and a socket timeout is one', async () => {
    const proxy = await TcpProxy.start(server.port);
    closeLater({ close: () => proxy.stop() });
    const lines: Line[] = [];
    const logger = { warn: (message: string, context?: Record<string, unknown>) => void lines.push({ message, context }), info: () => undefined };
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, logger, socketTimeoutMs: 1_000, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100 }), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis, { maxStalenessMs: 1_500 }));
    proxy.cut();
    await until(() => redis.lastFailure !== undefined, 'a failure seen');
    proxy.heal();
    await until(() => redis.lastFailure === undefined && !revocations.stale, 'back, and fresh', 20_000);
    // Now a node that stops answering (no reset reaches the client): the socket timeout is the cause.
    const staleLines = () => lines.filter((line) => line.message.startsWith('revocation state is stale'));
    const before = staleLines().length;
    proxy.blackhole();
    await until(() => staleLines().length > before, 'the stale warning of the second outage', 30_000);
    // Said when the state went stale (1.5 s), before the socket timeout (1 s of silence after a
    // command) may have closed the connection: no cause yet, or the timeout; never the first outage's.
    const cause = staleLines().at(-1)!.context?.lastConnectionError;
    expect(cause === undefined || /^no reply within socketTimeoutMs/.test(String(cause))).toBe(true);
    await until(() => /^no reply within socketTimeoutMs/.test(redis.lastFailure ?? ''), 'the socket timeout taken as the cause', 30_000);
    proxy.heal();
  });

  it("ioredis' MaxRetriesPerRequestError reads as Redis unreachable, not as advice about an option the client sets", () => {
    const error = new Error('Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.');
    error.name = 'MaxRetriesPerRequestError';
    expect(errorLine(error)).toMatch(/^Redis unreachable: the command was not sent/);
    expect(errorLine(error)).not.toMatch(/Refer to/);
  });
});
