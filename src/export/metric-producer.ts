import { ValueType, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type ExponentialHistogram, type Histogram,
  type MetricData, type MetricProducer, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { METRICS, type HistogramKey, type HistogramLayout, type MetricKey } from '../metrics/catalog.js';
import type { HistogramReading, Readings } from '../peers/readings.js';
import { SCOPE } from './scope.js';

/**
 * Hands poolscope's figures to one OpenTelemetry reader at collection time. The hot path only
 * adds to plain numbers; data points are built here, once per collection, from the readings of
 * this thread and of the threads and processes that report to it. A producer reads for one
 * consumer, its reader: the SDK tells a producer nothing of who collects.
 */
export class PoolscopeMetricProducer implements MetricProducer {
  readonly #read: () => Promise<Readings>;
  readonly #startTime: HrTime;
  readonly #layout: HistogramLayout;
  readonly #exponential: boolean;

  /**
   * `startedAtMs`: the agent's start, in milliseconds since the epoch, where cumulative figures
   * begin. `exponential`: send the exponential buckets of histograms that have them.
   */
  constructor(read: () => Promise<Readings>, startedAtMs: number, layout: HistogramLayout, exponential = false) {
    this.#read = read;
    this.#startTime = millisToHrTime(startedAtMs);
    this.#layout = layout;
    this.#exponential = exponential;
  }

  async collect(): Promise<CollectionResult> {
    const scopeMetrics = scopeMetricsOf(await this.#read(), this.#startTime, this.#layout, this.#exponential);
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [scopeMetrics] }, errors: [] };
  }
}

/**
 * Readings as OpenTelemetry metric data, cumulative from `startTime`, the agent's start. With
 * `exponential`, a histogram whose every series has exponential buckets is sent as an exponential
 * histogram; the others, and every histogram without it, with the layout's explicit buckets.
 */
export function scopeMetricsOf(readings: Readings, startTime: HrTime, layout: HistogramLayout, exponential = false): ScopeMetrics {
  const endTime = millisToHrTime(Date.now());
  const points = new Map<MetricKey, DataPoint<number>[]>();
  for (const { metric, value, attributes } of readings.values) {
    let list = points.get(metric);
    if (list === undefined) points.set(metric, list = []);
    list.push({ startTime, endTime, attributes, value });
  }
  const byMetric = new Map<MetricKey, HistogramReading[]>();
  for (const reading of readings.histograms) {
    let list = byMetric.get(reading.metric);
    if (list === undefined) byMetric.set(reading.metric, list = []);
    list.push(reading);
  }
  const metrics: MetricData[] = [];
  for (const [metric, dataPoints] of points) {
    const spec = METRICS[metric];
    const descriptor = descriptorOf(metric);
    metrics.push(spec.instrument === 'Gauge'
      ? { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints }
      : {
          descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM,
          isMonotonic: spec.instrument === 'Counter', dataPoints,
        });
  }
  for (const [metric, list] of byMetric) {
    const descriptor = descriptorOf(metric);
    const aggregationTemporality = AggregationTemporality.CUMULATIVE;
    if (exponential && list.every((reading) => reading.exponential !== undefined)) {
      const dataPoints = list.map((reading) => exponentialPoint(reading, startTime, endTime));
      metrics.push({ descriptor, aggregationTemporality, dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM, dataPoints });
    } else {
      // Readings are made afresh for each collection, and the boundaries are the layout's:
      // exporters only read both, so neither is copied per data point.
      const boundaries = layout[metric as HistogramKey] as number[];
      const dataPoints = list.map(({ attributes, counts, count, sum, min, max }): DataPoint<Histogram> => ({
        startTime, endTime, attributes, value: { buckets: { boundaries, counts: counts as number[] }, sum, count, min, max },
      }));
      metrics.push({ descriptor, aggregationTemporality, dataPointType: DataPointType.HISTOGRAM, dataPoints });
    }
  }
  return { scope: SCOPE, metrics };
}

/** Count, sum, min and max are the explicit histogram's: both took the same samples. */
function exponentialPoint(reading: HistogramReading, startTime: HrTime, endTime: HrTime): DataPoint<ExponentialHistogram> {
  const { attributes, count, sum, min, max } = reading;
  const { scale, zeroCount, offset, counts } = reading.exponential!;
  return {
    startTime, endTime, attributes,
    value: {
      count, sum, min, max, scale, zeroCount,
      positive: { offset, bucketCounts: counts as number[] },
      negative: { offset: 0, bucketCounts: [] },
    },
  };
}

function descriptorOf(metric: MetricKey) {
  const { name, description, unit } = METRICS[metric];
  return { name, description, unit, valueType: ValueType.DOUBLE };
}
