import { type Attributes, type MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { type DataPoint, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

/** One instrument as collected: what OpenTelemetry's SDK saw of it (descriptor and data points). */
export interface CollectedMetric {
  readonly name: string;
  /** What an exporter sees: a monotonic sum (`counter`), a non-monotonic sum (`updowncounter`) or a gauge. */
  readonly kind: 'counter' | 'updowncounter' | 'gauge' | 'other';
  readonly unit: string;
  readonly description: string;
  readonly valueType: 'int' | 'double';
  readonly points: readonly { readonly attributes: Attributes; readonly value: number }[];
}

/** A reader that collects when asked (no timer): tests wait for a condition over collections, never for an interval. */
class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** An in-memory OpenTelemetry SDK: a real `MeterProvider` and a reader the test collects from. */
export class InMemoryMetrics {
  private readonly reader = new OnDemandReader();
  readonly meterProvider: MeterProvider & ApiMeterProvider = new MeterProvider({ readers: [this.reader] });

  /** Every instrument with data points, by name. */
  async collect(): Promise<Map<string, CollectedMetric>> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    const collected = new Map<string, CollectedMetric>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const { name, unit, description, valueType } = metric.descriptor;
        const kind =
          metric.dataPointType === DataPointType.SUM ? (metric.isMonotonic ? 'counter' : 'updowncounter') : metric.dataPointType === DataPointType.GAUGE ? 'gauge' : 'other';
        const points = (metric.dataPoints as DataPoint<unknown>[]).map((point) => ({ attributes: point.attributes, value: point.value as number }));
        collected.set(name, { name, kind, unit, description, valueType: valueType === 0 ? 'int' : 'double', points });
      }
    }
    return collected;
  }

  /** The value of `name`'s data point whose attributes include `attributes`; undefined when there is none. */
  async value(name: string, attributes: Attributes = {}): Promise<number | undefined> {
    return pointValue(await this.collect(), name, attributes);
  }

  /** Collects until `condition` holds on `name`'s value (bounded), and returns that value. */
  async until(name: string, attributes: Attributes, condition: (value: number | undefined) => boolean, what: string, timeoutMs = 15_000): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = await this.value(name, attributes);
      if (condition(value)) return value;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${name} is ${String(value)})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  shutdown(): Promise<void> {
    return this.meterProvider.shutdown();
  }
}

/** The value of the data point of `name` whose attributes include `attributes`; throws when several match. */
export function pointValue(collected: ReadonlyMap<string, CollectedMetric>, name: string, attributes: Attributes = {}): number | undefined {
  const matching = (collected.get(name)?.points ?? []).filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));
  if (matching.length > 1) throw new Error(`${matching.length} data points of ${name} match ${JSON.stringify(attributes)}`);
  return matching[0]?.value;
}
