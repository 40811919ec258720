import type { BatchObservableCallback, Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { METRICS, type HistogramKey, type HistogramLayout, type MetricKey } from '../metrics/catalog.js';
import type { OriginSource } from '../state/origin-registries.js';
import type { BucketHistogram } from '../state/histogram.js';
import type { OriginStats } from '../state/origin-stats.js';
import { ConsumerTable } from '../state/peaks.js';
import { forEachOriginInTurns, readHistograms, readValues } from '../state/readings.js';
import { SCOPE } from './scope.js';

/**
 * Records into an application's own MeterProvider, whose readers poolscope cannot reach with
 * its producer. Counters and gauges are observable instruments read in one batch callback;
 * histograms are the provider's own, and each of poolscope's buckets mirrors its samples there.
 * The provider is one consumer of the peaks: its callback cannot tell which of its readers
 * collects, so several readers there share the peaks as one.
 */
export class MeterBridge {
  readonly #meter: Meter;
  readonly #observables = new Map<MetricKey, Observable>();
  readonly #histograms = new Map<MetricKey, Histogram>();
  readonly #callback: BatchObservableCallback;

  constructor(meterProvider: MeterProvider, registry: OriginSource, layout: HistogramLayout) {
    this.#meter = meterProvider.getMeter(SCOPE.name, SCOPE.version);
    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const spec = METRICS[key];
      const options = { description: spec.description, unit: spec.unit };
      if (spec.instrument === 'Counter') this.#observables.set(key, this.#meter.createObservableCounter(spec.name, options));
      else if (spec.instrument === 'UpDownCounter') this.#observables.set(key, this.#meter.createObservableUpDownCounter(spec.name, options));
      else if (spec.instrument === 'Gauge') this.#observables.set(key, this.#meter.createObservableGauge(spec.name, options));
      else {
        const advice = { advice: { explicitBucketBoundaries: [...layout[key as HistogramKey]] } };
        this.#histograms.set(key, this.#meter.createHistogram(spec.name, { ...options, ...advice }));
      }
    }
    // The only consumer of this thread's registry.
    const consumer = new ConsumerTable().fromStart('app meter provider');
    // The SDK waits for a callback's promise: the app's event loop runs between origins.
    this.#callback = async (result) => {
      const nowMs = performance.now();
      const reader = consumer();
      await forEachOriginInTurns(registry, (origin) => readValues(origin, nowMs, reader, (metric, value, attributes) => {
        result.observe(this.#observables.get(metric)!, value, attributes);
      }));
    };
    this.#meter.addBatchObservableCallback(this.#callback, [...this.#observables.values()]);
    for (const origin of registry.all()) this.#mirror(origin);
    registry.onOriginAdded = (origin) => this.#mirror(origin);
  }

  #mirror(origin: OriginStats): void {
    readHistograms(origin, (metric, histogram, attributes) => {
      const instrument = this.#histograms.get(metric)!;
      replay(histogram, (value) => instrument.record(value, attributes));
      histogram.mirror = (value) => instrument.record(value, attributes);
      // The app's SDK aggregates the samples its own way: poolscope's exponential buckets go unread.
      histogram.exponential = undefined;
    });
  }

  shutdown(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, [...this.#observables.values()]);
  }
}

/**
 * Records, through `record`, the samples a histogram took before the app's provider was joined
 * (an SDK started after the app's first requests): each at the middle of its bucket, narrowed
 * to the smallest and largest sample seen. Counts per bucket are exact; the sum is close.
 */
function replay(histogram: BucketHistogram, record: (value: number) => void): void {
  const { boundaries, counts, min, max } = histogram;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (count === 0) continue;
    const lower = Math.max(i === 0 ? min : boundaries[i - 1]!, min);
    const upper = Math.min(i < boundaries.length ? boundaries[i]! : max, max);
    const value = (lower + upper) / 2;
    for (let n = 0; n < count; n++) record(value);
  }
}
