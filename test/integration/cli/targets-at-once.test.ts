/**
 * Commands that work on many app-envs read their credentials and probe their Redis several at once
 * (CONCURRENT_TARGETS), the first app-env's credentials alone first (AWS credentials that ask the
 * operator something are asked once): one after the other, each read or probe that waits out a
 * timeout (a Redis or an AWS endpoint that does not answer) added its 10 s to the next. Secrets
 * Manager is the fake; Redis is real, behind one proxy per stack.
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
  { name: 'KccRedisC', region: 'eu-west-1' },
] as const;

type CheckJson = { exitCode: number; appEnvs: { source: string; unreachable?: string; unreadable?: string; error?: string }[] };
const stackOf = (source: string) => source.replace(/^--outputs .* \(/, '(');

describe('kcc-redis check on three app-envs', () => {
  const stacks = useStacksBehindProxies('targets-at-once', STACKS, [SHOP]);

  it('reads the first app-env\'s secret alone, then the others together', async () => {
    const { secrets, outputs, env } = stacks;
    const reads: string[] = [];
    const held: (() => void)[] = [];
    secrets.beforeGetSecretValue = (secretId) => {
      reads.push(secretId);
      return new Promise((resolve) => held.push(resolve));
    };
    const run = runCliInProcess(['check', '--outputs', outputs, '--json'], { env });
    try {
      await until(() => reads.length >= 1, 'the first read', 30_000);
      // Nothing else is read while the first is held, however long it takes.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(reads).toHaveLength(1);
      expect(reads[0]).toContain('KccRedisA');
      held.shift()!();
      // Read one after the other, the third read would start only once the second had answered.
      await until(() => reads.length >= 3, 'the second and third reads in flight together', 30_000);
      expect(reads.slice(1).map((id) => /KccRedis[ABC]/.exec(id)![0]).sort()).toEqual(['KccRedisB', 'KccRedisC']);
    } finally {
      secrets.beforeGetSecretValue = undefined;
      for (const release of held.splice(0)) release();
    }
    const result = await run;
    const report = result.json<CheckJson>();
    expect(report.appEnvs.map((r) => [stackOf(r.source), r.unreadable ?? r.unreachable ?? r.error])).toEqual([['(KccRedisA)', undefined], ['(KccRedisB)', undefined], ['(KccRedisC)', undefined]]);
    expect(result.code).toBe(0);
  });

  it('probes the app-envs\' Redis at once, and reports them in the source\'s order', async () => {
    const { proxies, outputs, env } = stacks;
    for (const proxy of proxies) proxy.hold(1000);
    const run = runCliInProcess(['check', '--outputs', outputs, '--json'], { env });
    try {
      // Probed one after the other, the second stack's Redis was reached only once the first had
      // waited out its connection timeout.
      await until(() => proxies.every((proxy) => proxy.heldCount > 0), 'a connection held by each stack\'s proxy', 30_000);
    } finally {
      for (const proxy of proxies) proxy.release();
    }
    const result = await run;
    const report = result.json<CheckJson>();
    expect(report.appEnvs.map((r) => [stackOf(r.source), r.unreadable ?? r.unreachable ?? r.error])).toEqual([['(KccRedisA)', undefined], ['(KccRedisB)', undefined], ['(KccRedisC)', undefined]]);
    expect(result.code).toBe(0);
  });
});
