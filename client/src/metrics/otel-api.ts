/**
 * The part of OpenTelemetry's metrics API (`@opentelemetry/api` 1.x: `MeterProvider`, `Meter`,
 * `BatchObservableResult`, `MetricOptions`) that the client calls, as structural types, so that the
 * client's declarations name no optional peer: an app without `@opentelemetry/api` type-checks and
 * runs, and any 1.x `MeterProvider` (the global one, the SDK's, a test's) is accepted as it is.
 * test/unit/client/metrics-types.test.ts checks that the real types fit these.
 */

/** Attributes of one measurement. The client only ever sets low-cardinality strings. */
export type OtelMetricAttributes = Readonly<Record<string, string>>;

/** An asynchronous instrument, as a `Meter` returns it (opaque to the client). */
export type OtelObservable = object;

/** `MetricOptions`: `valueType` is `ValueType.INT` (0) or `ValueType.DOUBLE` (1). */
export interface OtelMetricOptions {
  readonly description?: string;
  readonly unit?: string;
  readonly valueType?: 0 | 1;
}

/** What a batch callback records into (`BatchObservableResult`). */
export interface OtelBatchObservableResult {
  observe(observable: OtelObservable, value: number, attributes?: OtelMetricAttributes): void;
}

/** The methods of `Meter` the client uses: asynchronous instruments and batch callbacks. */
export interface OtelMeter {
  createObservableCounter(name: string, options?: OtelMetricOptions): OtelObservable;
  createObservableUpDownCounter(name: string, options?: OtelMetricOptions): OtelObservable;
  createObservableGauge(name: string, options?: OtelMetricOptions): OtelObservable;
  addBatchObservableCallback(callback: (result: OtelBatchObservableResult) => void, observables: OtelObservable[]): void;
  removeBatchObservableCallback(callback: (result: OtelBatchObservableResult) => void, observables: OtelObservable[]): void;
}

/** `MeterProvider`: `metrics.getMeterProvider()` of `@opentelemetry/api`, or the SDK's `MeterProvider`. */
export interface OtelMeterProvider {
  getMeter(name: string, version?: string): OtelMeter;
}
