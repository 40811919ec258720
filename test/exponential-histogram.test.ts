// Base-2 exponential buckets: the same indexes, scale and counts as the OpenTelemetry SDK's own
// aggregation of the same samples; merging two equals recording both; and what crosses threads
// is checked on receipt.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AggregationType, DataPointType, InstrumentType, MeterProvider, MetricReader, type ExponentialHistogram,
} from '@opentelemetry/sdk-metrics';
import { MeterBridge } from '../dist/export/meter-bridge.js';
import { scopeMetricsOf } from '../dist/export/metric-producer.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { mergeReadings } from '../dist/peers/merge-readings.js';
import { packReadings, receivePacked, unpackReadings, type PackedReadings } from '../dist/peers/packed-readings.js';
import type { HistogramReading, Readings } from '../dist/peers/readings.js';
import { BucketHistogram } from '../dist/state/histogram.js';
import { OriginRegistries } from '../dist/state/origin-registries.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import {
  ExponentialBuckets, MAX_BUCKETS, addExponential, type ExponentialReading,
} from '../dist/state/exponential-histogram.js';
import { random } from './helpers/hostile.ts';

class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A reader that asks for exponential histograms, as an app's exporter does with `aggregationPreference`. */
const exponentialReader = () => new CollectingReader({
  aggregationSelector: (type) => ({ type: type === InstrumentType.HISTOGRAM ? AggregationType.EXPONENTIAL_HISTOGRAM : AggregationType.DEFAULT }),
});

/** What the SDK's exponential aggregation makes of `values`, recorded through a real MeterProvider. */
async function sdkBuckets(values: readonly number[]): Promise<ExponentialReading> {
  const reader = exponentialReader();
  const provider = new MeterProvider({ readers: [reader] });
  const histogram = provider.getMeter('test').createHistogram('values');
  for (const value of values) histogram.record(value);
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  const metric = resourceMetrics.scopeMetrics[0]!.metrics[0]!;
  assert.equal(metric.dataPointType, DataPointType.EXPONENTIAL_HISTOGRAM);
  const { scale, zeroCount, positive, negative } = metric.dataPoints[0]!.value as ExponentialHistogram;
  assert.deepEqual(negative.bucketCounts, []);
  return { scale, zeroCount, offset: positive.bucketCounts.length === 0 ? 0 : positive.offset, counts: positive.bucketCounts };
}

function recorded(values: readonly number[]): ExponentialReading {
  const buckets = new ExponentialBuckets();
  for (const value of values) buckets.record(value);
  return buckets.reading();
}

const next = random(7);
const logUniform = (low: number, high: number) => low * (high / low) ** next();
const SAMPLES: Record<string, number[]> = {
  'latencies from 0.1 ms to 30 s': Array.from({ length: 500 }, () => logUniform(1e-4, 30)),
  'a narrow range, at a fine scale': Array.from({ length: 200 }, () => 1 + next() * 1e-4),
  'requests per socket (whole numbers) and zeros': Array.from({ length: 300 }, () => Math.floor(next() * 1000)),
  'powers of two, on bucket boundaries': Array.from({ length: 40 }, (_, i) => 2 ** (i - 20)),
  'the whole range of doubles, subnormals included': [Number.MIN_VALUE, 1e-310, 1e-300, 1e-5, 1, 1e5, 1e300, Number.MAX_VALUE, 0],
  'one value': [0.042],
  'only zeros': [0, 0, 0],
};

describe('exponential buckets', () => {
  for (const [name, values] of Object.entries(SAMPLES)) {
    it(`match the SDK's aggregation: ${name}`, async () => {
      const mine = recorded(values);
      assert.deepEqual(mine, await sdkBuckets(values));
      assert.ok(mine.counts.length <= MAX_BUCKETS);
      assert.equal(mine.zeroCount + mine.counts.reduce((sum, count) => sum + count, 0), values.length);
    });

    it(`merged from two histograms, equal one that took every sample: ${name}`, () => {
      const sorted = [...values].sort((a, b) => a - b);
      const half = values.length >> 1;
      // Interleaved halves share a range; sorted halves have different ranges, so different scales.
      const splits = [
        [values.filter((_, i) => i % 2 === 0), values.filter((_, i) => i % 2 === 1)],
        [sorted.slice(0, half), sorted.slice(half)],
      ] as const;
      for (const [a, b] of splits) {
        assert.deepEqual(addExponential(recorded(a), recorded(b)), recorded(values));
        assert.deepEqual(addExponential(recorded(b), recorded(a)), recorded(values));
      }
    });
  }

  it('downscale as far as a merge needs: a fine narrow histogram and a coarse wide one', () => {
    const fine = recorded([1.0001, 1.0002]);
    const wide = recorded([1e-6, 1e6]);
    assert.equal(fine.scale, 20);
    assert.ok(wide.scale < 5, `wide at scale ${wide.scale}`);
    assert.deepEqual(addExponential(fine, wide), recorded([1.0001, 1.0002, 1e-6, 1e6]));
    // Two ranges that each fit at their scale, but not together at the coarser one.
    const low = recorded(Array.from({ length: 100 }, (_, i) => 2 ** (i / 10)));
    const high = recorded(Array.from({ length: 100 }, (_, i) => 2 ** (20 + i / 10)));
    const merged = addExponential(low, high);
    assert.ok(merged.scale < Math.min(low.scale, high.scale) && merged.counts.length <= MAX_BUCKETS);
    assert.equal(merged.counts.reduce((sum, count) => sum + count, 0), 200);
  });

  it('are kept beside explicit buckets only when asked for, with the same count', () => {
    assert.equal(new BucketHistogram([1, 2]).exponential, undefined);
    const histogram = new BucketHistogram([1, 2], true);
    for (const value of [0, 0.5, 1.5, 3]) histogram.record(value);
    const { zeroCount, counts } = histogram.exponential!.reading();
    assert.equal(zeroCount + counts.reduce((sum, count) => sum + count, 0), histogram.count);
  });

  it('through an app\'s MeterProvider, the app\'s aggregation decides, and poolscope keeps none of its own', async () => {
    const registry = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default, true);
    const origin = registry.lookup('http://a.example')!;
    origin.timeInQueue.record(0.003);
    const reader = exponentialReader();
    const provider = new MeterProvider({ readers: [reader] });
    const bridge = new MeterBridge(provider, new OriginRegistries([registry]), HISTOGRAM_LAYOUTS.default);
    assert.equal(origin.timeInQueue.exponential, undefined);
    origin.timeInQueue.record(0.004);
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics[0]!.metrics.find((m) => m.descriptor.name === 'http.client.request.time_in_queue')!;
    assert.equal(metric.dataPointType, DataPointType.EXPONENTIAL_HISTOGRAM, 'the explicit boundaries poolscope advises are only advice');
    assert.equal(metric.dataPoints[0]!.value.count, 2, 'the sample before the join replayed, the one after recorded');
    bridge.shutdown();
    await provider.shutdown();
  });
});

/** One thread's readings: a histogram of `values` with exponential buckets, or without. */
function readingsOf(values: readonly number[], exponential = true): Readings {
  const histogram = new BucketHistogram(HISTOGRAM_LAYOUTS.default.timeInQueue, exponential);
  for (const value of values) histogram.record(value);
  const reading: HistogramReading = {
    metric: 'timeInQueue', attributes: { 'server.address': 'a.example' }, counts: [...histogram.counts],
    count: histogram.count, sum: histogram.sum, min: histogram.min, max: histogram.max,
  };
  return { values: [], histograms: [exponential ? { ...reading, exponential: histogram.exponential!.reading() } : reading] };
}

describe('exponential buckets between threads', () => {
  const a = [0, 0.001, 0.002, 0.25];
  const b = [1e-6, 7, 30];

  it('survive packing, add up in a merge, and go out as an exponential histogram', () => {
    const packed = [receivePacked(packReadings(readingsOf(a)))!, receivePacked(packReadings(readingsOf(b)))!];
    assert.deepEqual(unpackReadings(packed[0]!), readingsOf(a));
    const merged = mergeReadings(packed.map(unpackReadings), 10).histograms[0]!;
    assert.deepEqual(merged.exponential, recorded([...a, ...b]));
    assert.equal(merged.count, a.length + b.length);
    const [metric] = scopeMetricsOf({ values: [], histograms: [merged] }, [0, 0], HISTOGRAM_LAYOUTS.default, true).metrics;
    assert.equal(metric!.dataPointType, DataPointType.EXPONENTIAL_HISTOGRAM);
    const [explicit] = scopeMetricsOf({ values: [], histograms: [merged] }, [0, 0], HISTOGRAM_LAYOUTS.default).metrics;
    assert.equal(explicit!.dataPointType, DataPointType.HISTOGRAM, 'Prometheus and console readers stay explicit');
  });

  it('a series with a part that has none is merged and sent explicit', () => {
    const merged = mergeReadings([readingsOf(a), readingsOf(b, false)], 10).histograms[0]!;
    assert.equal(merged.exponential, undefined);
    assert.equal(merged.count, a.length + b.length);
    // Cluster workers' readings arrive over JSON, unchecked: buckets that are not what poolscope makes count as none.
    const [good] = readingsOf(b).histograms;
    for (const exponential of [null, { ...good!.exponential!, offset: '3' }, { ...good!.exponential!, scale: 21 }, { ...good!.exponential!, counts: 'x' }]) {
      const odd = { values: [], histograms: [{ ...good!, exponential }] } as unknown as Readings;
      assert.equal(mergeReadings([readingsOf(a), odd], 10).histograms[0]!.exponential, undefined, JSON.stringify(exponential));
    }
    const [metric] = scopeMetricsOf({ values: [], histograms: [merged] }, [0, 0], HISTOGRAM_LAYOUTS.default, true).metrics;
    assert.equal(metric!.dataPointType, DataPointType.HISTOGRAM);
  });

  it('a message whose exponential buckets are not what poolscope packs is dropped whole', () => {
    const good = packReadings(readingsOf(a));
    const { exponential } = good;
    assert.ok(exponential);
    // The first histogram, one zero, then its buckets: the first holds 0.001.
    const buckets = exponential[4]!;
    assert.deepEqual([exponential[0], exponential[2], exponential[5], exponential.length], [0, 1, 1, 5 + buckets]);
    const altered = (at: number, value: number): PackedReadings => {
      const copy = new Float64Array(exponential);
      copy[at] = value;
      return { ...good, exponential: copy };
    };
    const bad: Record<string, unknown> = {
      'a scale above 20': altered(1, 21),
      'a scale below -10': altered(1, -11),
      'a fractional scale': altered(1, 1.5),
      'a negative zero count': altered(2, -1),
      'counts that do not add up to the count': altered(5, 2),
      'a negative bucket count': altered(5, -1),
      'a NaN bucket count': altered(5, NaN),
      'an offset past the largest double': altered(3, 2 ** 31),
      'a histogram that is not in the message': altered(0, 1),
      'more buckets than the message holds': altered(4, buckets + 1),
      'more buckets than 160': { ...good, exponential: new Float64Array([0, 20, 0, 0, 161, ...new Array<number>(161).fill(0)]) },
      'not a typed array': { ...good, exponential: [...exponential] },
      'two entries for one histogram': { ...good, exponential: new Float64Array([...exponential, ...exponential]) },
    };
    for (const [name, message] of Object.entries(bad)) assert.equal(receivePacked(message), undefined, name);
    assert.ok(receivePacked(good));
    const { exponential: _, ...older } = good;
    assert.ok(receivePacked(older), 'a message without them, as from a thread that keeps none, is fine');
  });
});
