/**
 * `kcc-redis status` against a Redis that does not answer (connections accepted, nothing forwarded:
 * TcpProxy.hold): the app-envs are read at once, not one after the other, each waiting out its
 * connection timeout (10 s) before the next starts; and a Ctrl-C during a refresh of `--watch` ends it
 * at once, with the code of the last refresh shown. Secrets Manager is the fake; Redis is real.
 */
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../../client/src/contract/naming.js';
import { runCliInProcess } from '../../support/cli.js';
import { until } from '../../support/events.js';
import { useStacksBehindProxies } from '../../support/stack-outputs.js';
import type { TcpProxy } from '../../support/tcp-proxy.js';

const SHOP: AppEnv = { app: 'shop', env: 'dev' };
const STACKS = [
  { name: 'KccRedisA', region: 'eu-west-1' },
  { name: 'KccRedisB', region: 'eu-west-1' },
] as const;

type StatusJson = { exitCode: number; appEnvs: { appEnv: string; source: string; error?: string }[] };

describe('kcc-redis status with Redis not answering', () => {
  const stacks = useStacksBehindProxies('status-hanging', STACKS, [SHOP]);

  it('reads the app-envs at once: both wait on their Redis together, and both are shown, in the source\'s order', async () => {
    const { proxies, outputs, env } = stacks;
    const [a, b] = proxies as [TcpProxy, TcpProxy];
    a.hold(1000);
    b.hold(1000);
    const run = runCliInProcess(['status', '--outputs', outputs, '--app', 'shop', '--env', 'dev', '--json'], { env });
    try {
      // Read one after the other, the second app-env's connection reached its Redis only once the
      // first had waited out its connection timeout: the first was then shown unreadable.
      await until(() => a.heldCount > 0 && b.heldCount > 0, 'a connection held by each stack\'s proxy', 30_000);
    } finally {
      b.release();
      a.release();
    }
    const result = await run;
    expect(result.stderr).toBe('');
    const report = result.json<StatusJson>();
    expect(report.appEnvs.map((s) => [s.source.replace(/^--outputs .* \(/, '('), s.error])).toEqual([['(KccRedisA)', undefined], ['(KccRedisB)', undefined]]);
    expect(result.code).toBe(0);
  });

  it('--watch: a Ctrl-C during a refresh ends it at once, with the code of the last refresh shown (not the refresh under way)', async () => {
    const { proxies, server } = stacks;
    const [a] = proxies as [TcpProxy];
    const url = a.url;
    const credentials = { KCC_REDIS_URL: url, KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: server.users.get('shop-dev')!.password, KCC_REDIS_CA_FILE: server.tls.caFile };
    let refreshed = false;
    // The Ctrl-C: once the second refresh's connection waits on the Redis that does not answer.
    const stop = until(() => refreshed && a.heldCount > 0, 'the second refresh waiting on Redis', 30_000);
    try {
      const result = await runCliInProcess(['status', '--watch', '--json'], {
        env: credentials,
        watch: {
          refreshes: 3,
          between: async () => {
            a.hold(1000);
            refreshed = true;
          },
          stop,
        },
      });
      // Without the stop, the refresh under way waited out the connection timeout and showed the app-env unreadable (exit 2).
      expect(result.jsonLines<StatusJson>().map((doc) => doc.exitCode)).toEqual([0]);
      expect(result.code).toBe(0);
    } finally {
      a.release();
    }
  });
});
