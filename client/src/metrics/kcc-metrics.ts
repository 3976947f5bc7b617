import { inspect } from 'node:util';
import type { KccRedis } from '../connection.js';
import { emptyDropCounts } from '../envelope.js';
import type { KeyRing } from '../keyring/key-ring.js';
import type { RingRefusalReason } from '../keyring/ring-seal.js';
import { OptionProblems, show } from '../option-checks.js';
import type { Revocations } from '../revocation/revocations.js';
import { CLIENT_VERSION } from '../version.js';
import { ATTRIBUTES, INSTRUMENTS, type InstrumentSpec, METER_NAME } from './instruments.js';
import { globalMeterProvider } from './load-otel-api.js';
import type { OtelBatchObservableResult, OtelMeter, OtelMeterProvider, OtelObservable } from './otel-api.js';

/** The objects {@link KccMetrics.start} reports on: a connection, and the key ring and revocations started on it. */
export interface KccMetricsTargets {
  /** The connection: reconnects, auth failures, credential refreshes, renewals, heartbeats. */
  readonly redis: KccRedis;
  /** The key ring started on it: generation, degraded, rotations, refusals. */
  readonly keyRing?: KeyRing;
  /** The revocations started on it: applied, written, refused, dropped, staleness. */
  readonly revocations?: Revocations;
}

/** Options of {@link KccMetrics.start}. */
export interface KccMetricsOptions {
  /**
   * Where the instruments are created (meter `@kcc-redis/client`).
   * @default the global MeterProvider of `@opentelemetry/api` (the one your OpenTelemetry SDK
   * registered: register it before this starts) when that package is installed; no metrics when it is not
   */
  readonly meterProvider?: OtelMeterProvider;
}

/** Every refusal reason, so that each series exists from the start (at 0) and a first refusal shows as an increase. */
const REFUSAL_REASONS: Record<RingRefusalReason, true> = {
  malformed: true,
  'unknown-kek': true,
  'bad-authentication': true,
  'newer-format': true,
  invalid: true,
  undecryptable: true,
  rollback: true,
  fork: true,
  'compromised-kid': true,
  'kek-downgrade': true,
  'not-yet-active': true,
};
const DROP_REASONS = Object.keys(emptyDropCounts()) as (keyof ReturnType<typeof emptyDropCounts>)[];

type Observe = (instrument: InstrumentSpec, value: number, attributes?: Readonly<Record<string, string>>) => void;

function observeConnection(redis: KccRedis, observe: Observe): void {
  const stats = redis.stats;
  const i = INSTRUMENTS.redis;
  observe(i.reconnects, stats.reconnects);
  observe(i.socketTimeouts, stats.socketTimeouts);
  observe(i.tlsResumptions, stats.tlsResumptions);
  observe(i.authFailures, stats.authFailures);
  observe(i.credentialRefreshes, stats.credentialRefreshes);
  observe(i.renewals, stats.renewals);
  observe(i.renewalFailures, stats.renewalFailures);
  if (redis.config.heartbeat) {
    observe(i.heartbeatWrites, stats.heartbeatsWritten, { [ATTRIBUTES.heartbeatOutcome]: 'written' });
    observe(i.heartbeatWrites, stats.heartbeatFailures, { [ATTRIBUTES.heartbeatOutcome]: 'failed' });
  }
}

function observeKeyRing(ring: KeyRing, observe: Observe): void {
  const health = ring.health();
  const stats = ring.stats;
  const i = INSTRUMENTS.keyRing;
  observe(i.generation, health.generation);
  observe(i.degraded, health.status === 'degraded' ? 1 : 0);
  for (const [mode, count] of Object.entries(stats.rotations)) observe(i.rotations, count, { [ATTRIBUTES.rotationMode]: mode });
  for (const reason of Object.keys(REFUSAL_REASONS) as RingRefusalReason[]) {
    observe(i.refused, stats.refused[reason] ?? 0, { [ATTRIBUTES.refusalReason]: reason });
  }
  observe(i.restored, stats.restored);
  observe(i.reencrypted, stats.reencrypted);
}

function observeRevocations(revocations: Revocations, observe: Observe): void {
  const stats = revocations.stats;
  const i = INSTRUMENTS.revocations;
  observe(i.applied, stats.applied);
  observe(i.batchesWritten, stats.batchesWritten);
  for (const [source, count] of Object.entries(stats.refused)) observe(i.refused, count, { [ATTRIBUTES.revocationSource]: source });
  for (const [source, counts] of Object.entries(stats.dropped)) {
    for (const reason of DROP_REASONS) observe(i.messagesDropped, counts[reason], { [ATTRIBUTES.revocationSource]: source, [ATTRIBUTES.dropReason]: reason });
  }
  for (const [outcome, count] of Object.entries(stats.logPolls)) observe(i.logPolls, count, { [ATTRIBUTES.logPollOutcome]: outcome });
  observe(i.staleness, revocations.stalenessMs / 1000);
  observe(i.stale, revocations.stale ? 1 : 0);
  observe(i.unwritten, stats.unwritten);
  observe(i.unconfirmed, stats.unconfirmed);
  observe(i.rewrittenAfterLoss, stats.rewrittenAfterLoss);
  observe(i.unwrittenDropped, stats.unwrittenDropped);
  observe(i.gapReloads, stats.gapReloads.done);
  observe(i.revokedSessions, stats.revokedSessions);
  observe(i.revokedSubjects, stats.revokedSubjects);
}

function createInstrument(meter: OtelMeter, spec: InstrumentSpec): OtelObservable {
  const options = { description: spec.description, unit: spec.unit, valueType: spec.valueType === 'int' ? (0 as const) : (1 as const) };
  if (spec.kind === 'counter') return meter.createObservableCounter(spec.name, options);
  if (spec.kind === 'updowncounter') return meter.createObservableUpDownCounter(spec.name, options);
  return meter.createObservableGauge(spec.name, options);
}

/** What is wrong with `value` as the `meterProvider` option named `name`; undefined when it is fine (a MeterProvider or undefined). */
export function meterProviderProblem(name: string, value: unknown): string | undefined {
  if (value === undefined || typeof (value as { getMeter?: unknown } | null)?.getMeter === 'function') return undefined;
  return `${name}: ${show(value)} must be an OpenTelemetry MeterProvider (with getMeter), e.g. metrics.getMeterProvider() of @opentelemetry/api, or left out`;
}

/** Misuse of the targets argument: a TypeError naming it (checked by shape: the ESM and CommonJS builds' classes differ). */
function checkTargets(targets: KccMetricsTargets): void {
  const has = (value: unknown, member: string) => typeof value === 'object' && value !== null && member in value;
  if (!has(targets, 'redis') || !has(targets.redis, 'stats') || typeof targets.redis.keyPrefix !== 'string') {
    throw new TypeError(`KccMetrics.start: targets.redis: ${show(targets?.redis)} must be a KccRedis ({ redis, keyRing?, revocations? })`);
  }
  if (targets.keyRing !== undefined && !has(targets.keyRing, 'health')) throw new TypeError(`KccMetrics.start: targets.keyRing: ${show(targets.keyRing)} must be a KeyRing or undefined`);
  if (targets.revocations !== undefined && !has(targets.revocations, 'stalenessMs')) {
    throw new TypeError(`KccMetrics.start: targets.revocations: ${show(targets.revocations)} must be a Revocations or undefined`);
  }
}

/**
 * OpenTelemetry metrics of a connection, its key ring and its revocations: asynchronous instruments
 * read from their counters and state at each collection (docs/metrics.md lists them), every
 * measurement attributed with the app-env (`kcc_redis.app_env`). Nothing runs between collections.
 * Without a `meterProvider` option and without `@opentelemetry/api` installed, it does nothing
 * (`enabled` is false). Report each object once: a second start on the same objects doubles nothing
 * but repeats their series.
 *
 * @example
 * import { metrics } from '@opentelemetry/api';
 * const kccMetrics = await KccMetrics.start({ redis, keyRing, revocations }, { meterProvider: metrics.getMeterProvider() });
 * // … on shutdown, before closing the objects:
 * kccMetrics.close();
 */
export class KccMetrics {
  private closed = false;

  private constructor(
    private readonly meter: OtelMeter | undefined,
    private readonly callback: (result: OtelBatchObservableResult) => void,
    private readonly observables: OtelObservable[],
  ) {}

  /** Creates the instruments on `options.meterProvider` (or the global one) and starts observing `targets`. */
  static async start(targets: KccMetricsTargets, options: KccMetricsOptions = {}): Promise<KccMetrics> {
    checkTargets(targets);
    const { redis, keyRing, revocations } = targets;
    if (typeof options !== 'object' || options === null) throw new TypeError(`KccMetrics.start: options: ${show(options)} must be an object`);
    const problems = new OptionProblems();
    problems.unknownKeys(options, { meterProvider: true } satisfies Record<keyof KccMetricsOptions, true>);
    const problem = meterProviderProblem('meterProvider', options.meterProvider);
    if (problem) problems.add(problem);
    problems.throwIfAny('kcc-redis metrics options');
    const provider = options.meterProvider ?? (await globalMeterProvider(redis.config.logger));
    if (!provider) return new KccMetrics(undefined, () => {}, []);
    const meter = provider.getMeter(METER_NAME, CLIENT_VERSION);
    const specs = [INSTRUMENTS.redis, keyRing && INSTRUMENTS.keyRing, revocations && INSTRUMENTS.revocations].flatMap((group) => (group ? Object.values(group) : []));
    const instruments = new Map<InstrumentSpec, OtelObservable>(specs.map((spec) => [spec, createInstrument(meter, spec)]));
    const appEnv = { [ATTRIBUTES.appEnv]: redis.keyPrefix.replace(/:$/, '') };
    const callback = (result: OtelBatchObservableResult): void => {
      const observe: Observe = (spec, value, attributes) => result.observe(instruments.get(spec)!, value, { ...appEnv, ...attributes });
      observeConnection(redis, observe);
      if (keyRing) observeKeyRing(keyRing, observe);
      if (revocations) observeRevocations(revocations, observe);
    };
    const observables = [...instruments.values()];
    meter.addBatchObservableCallback(callback, observables);
    return new KccMetrics(meter, callback, observables);
  }

  /** Whether instruments were created: false when no `meterProvider` was given and `@opentelemetry/api` is not installed. */
  get enabled(): boolean {
    return this.meter !== undefined;
  }

  /** Stops observing (the objects are not touched; close them yourself). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.meter?.removeBatchObservableCallback(this.callback, this.observables);
  }

  /** A summary (the meter and its exporter's settings stay out of logs and dumps). */
  toJSON(): { enabled: boolean; instruments: number; closed: boolean } {
    return { enabled: this.enabled, instruments: this.observables.length, closed: this.closed };
  }

  /** What `console.log` and `util.inspect` show: the same as {@link toJSON}. */
  [inspect.custom](_depth: number, options: object): string {
    return `KccMetrics ${inspect(this.toJSON(), options)}`;
  }
}
