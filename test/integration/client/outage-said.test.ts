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
    await until(() => lines.filter((line) => / works again, \d+ s after its failure was first said$/.test(line.message)).length === 2, 'both connections said to work again', 20_000);
    expect(lines.filter((line) => / connection to .* failed: /.test(line.message))).toHaveLength(2);
    expect(secretsIn(lines, [server.users.get(USER)!.password])).toEqual([]);
  });

  it("ioredis' MaxRetriesPerRequestError reads as Redis unreachable, not as advice about an option the client sets", () => {
    const error = new Error('Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.');
    error.name = 'MaxRetriesPerRequestError';
    expect(errorLine(error)).toMatch(/^Redis unreachable: the command was not sent/);
    expect(errorLine(error)).not.toMatch(/Refer to/);
  });
});
