/**
 * The client's side of OpenTelemetry without a server: the structural types it declares fit the real
 * `@opentelemetry/api` 1.x and SDK (so the declarations need not name the optional peer), the lazy
 * loader of the global MeterProvider (absent package: off, silently; broken package: off, logged),
 * the checks of `KccMetrics.start`'s arguments, and the health route's summary.
 */
import { type Meter, type MeterProvider, ValueType, metrics } from '@opentelemetry/api';
import { MeterProvider as SdkMeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { KccConfigError, KccMetrics, type KccRedis, type OtelMeter, type OtelMeterProvider } from '../../../client/src/index.js';
import type { KccHealth } from '../../../client/src/fastify/decoration.js';
import { healthSummary } from '../../../client/src/fastify/health-route.js';
import { OTEL_API_PACKAGE, globalMeterProvider } from '../../../client/src/metrics/load-otel-api.js';
import { secretsIn } from '../../support/secret-scan.js';

describe('structural types against the real API', () => {
  it('the API\'s and the SDK\'s MeterProvider and Meter are accepted as they are', () => {
    expectTypeOf<MeterProvider>().toExtend<OtelMeterProvider>();
    expectTypeOf<SdkMeterProvider>().toExtend<OtelMeterProvider>();
    expectTypeOf<Meter>().toExtend<OtelMeter>();
    const provider: OtelMeterProvider = metrics.getMeterProvider();
    expect(typeof provider.getMeter).toBe('function');
  });

  it('ValueType.INT and DOUBLE are the numbers the client passes', () => {
    expect([ValueType.INT, ValueType.DOUBLE]).toEqual([0, 1]);
  });
});

/** A logger that keeps what it is told. */
function recording(): { warn: (message: string) => void; info: () => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, info: () => {}, warn: (message) => lines.push(message) };
}

/** The error Node raises for a package that is not installed. */
function notFound(code: 'ERR_MODULE_NOT_FOUND' | 'MODULE_NOT_FOUND', specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}' imported from /app/index.js`), { code });
}

describe('globalMeterProvider: the optional peer, loaded on first use', () => {
  it('loads @opentelemetry/api and returns its global MeterProvider', async () => {
    const logger = recording();
    const asked: string[] = [];
    const provider = await globalMeterProvider(logger, async (specifier) => {
      asked.push(specifier);
      return import('@opentelemetry/api');
    });
    expect(asked).toEqual([OTEL_API_PACKAGE]);
    expect(provider).toBe(metrics.getMeterProvider());
    expect(logger.lines).toEqual([]);
  });

  it('takes the exports from `default` (a CommonJS module imported from ESM)', async () => {
    const api = await import('@opentelemetry/api');
    expect(await globalMeterProvider(recording(), async () => ({ default: { metrics: api.metrics } }))).toBe(api.metrics.getMeterProvider());
  });

  it.each(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND'] as const)('not installed (%s): undefined, nothing logged', async (code) => {
    const logger = recording();
    const provider = await globalMeterProvider(logger, async (specifier) => {
      throw notFound(code, specifier);
    });
    expect(provider).toBeUndefined();
    expect(logger.lines).toEqual([]);
  });

  it('installed but failing to load (or another package missing): undefined, and a warning says so', async () => {
    for (const error of [new SyntaxError('Unexpected token'), notFound('ERR_MODULE_NOT_FOUND', '@opentelemetry/something-else')]) {
      const logger = recording();
      expect(
        await globalMeterProvider(logger, async () => {
          throw error;
        }),
      ).toBeUndefined();
      expect(logger.lines).toEqual([`metrics are off: ${OTEL_API_PACKAGE} is installed but could not be loaded`]);
    }
  });

  it('a module without metrics.getMeterProvider (not a 1.x API): undefined, and a warning names the fix', async () => {
    const logger = recording();
    expect(await globalMeterProvider(logger, async () => ({ trace: {} }))).toBeUndefined();
    expect(logger.lines).toEqual([`metrics are off: ${OTEL_API_PACKAGE} has no metrics.getMeterProvider() (install a 1.x version)`]);
  });
});

describe('KccMetrics.start: its arguments', () => {
  const redisLike = { stats: {}, keyPrefix: 'shop-prod:', config: { heartbeat: false, logger: recording() } } as unknown as KccRedis;

  it.each([
    ['no targets', undefined, /^KccMetrics\.start: targets\.redis: undefined must be a KccRedis/],
    ['a redis that is not a connection', { redis: 'redis://localhost' }, /^KccMetrics\.start: targets\.redis: "redis:\/\/localhost" must be a KccRedis/],
    ['a keyRing that is not one', { redis: redisLike, keyRing: {} }, /^KccMetrics\.start: targets\.keyRing: .* must be a KeyRing or undefined/],
    ['revocations that are not', { redis: redisLike, revocations: 42 }, /^KccMetrics\.start: targets\.revocations: 42 must be a Revocations or undefined/],
  ])('misuse (%s): a TypeError naming the argument', async (_what, targets, message) => {
    const error = await KccMetrics.start(targets as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
  });

  it('a meterProvider without getMeter: a KccConfigError naming the option and the fix', async () => {
    const error = await KccMetrics.start({ redis: redisLike }, { meterProvider: { getMeterr: () => undefined } as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([expect.stringMatching(/^meterProvider: .* must be an OpenTelemetry MeterProvider \(with getMeter\), e\.g\. metrics\.getMeterProvider\(\)/)]);
  });

  it('a misspelled option: a KccConfigError naming it and the option meant', async () => {
    const error = await KccMetrics.start({ redis: redisLike }, { meterprovider: {} } as never).catch((e: unknown) => e);
    expect((error as KccConfigError).problems).toEqual(['meterprovider: not an option; did you mean meterProvider?']);
  });
});

describe('healthSummary: what the health route answers', () => {
  const health = (overrides: { status?: KccHealth['status']; ring?: KccHealth['keyRing']['status']; revocations?: KccHealth['revocations']['status'] } = {}): KccHealth => ({
    status: overrides.status ?? 'ok',
    keyRing: { status: overrides.ring ?? 'ready', generation: 7, activeKid: 'kid-that-must-not-show', lastLoadedAt: 1, lastReadAt: 1, lastError: 'detail that must not show', readOverdue: false },
    revocations: { status: overrides.revocations ?? 'current', stalenessSeconds: 1.25, revokedSessions: 3 },
    connection: { reconnects: 2, authFailures: 1 } as unknown as KccHealth['connection'],
  });

  it.each([
    ['all good', health(), false, true],
    ['key ring degraded: the held ring still signs', health({ status: 'degraded', ring: 'degraded' }), false, true],
    ['stale, failing closed: protected routes answer 503', health({ status: 'degraded', revocations: 'stale' }), false, false],
    ['stale, failing open: requests pass', health({ status: 'degraded', revocations: 'stale' }), true, true],
    ['closed', health({ status: 'closed', ring: 'closed', revocations: 'closed' }), false, false],
  ] as const)('%s: serving %s', (_what, input, failOpen, serving) => {
    const summary = healthSummary(input, failOpen);
    expect(summary).toEqual({
      status: input.status,
      serving,
      keyRing: { status: input.keyRing.status, generation: 7 },
      revocations: { status: input.revocations.status, stalenessSeconds: 1.25, failOpen },
    });
  });

  it('carries no key id, refusal detail or counter', () => {
    expect(secretsIn(healthSummary(health(), false), ['kid-that-must-not-show', 'detail that must not show', 'reconnects', 'revokedSessions'])).toEqual([]);
  });
});
