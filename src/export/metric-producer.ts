import { ValueType, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type Histogram,
  type MetricData, type MetricProducer, type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { METRICS, type HistogramKey, type HistogramLayout, type MetricKey } from '../metrics/catalog.js';
import type { Readings } from '../peers/readings.js';
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

  /** `startedAtMs`: the agent's start, in milliseconds since the epoch, where cumulative figures begin. */
  constructor(read: () => Promise<Readings>, startedAtMs: number, layout: HistogramLayout) {
    this.#read = read;
    this.#startTime = millisToHrTime(startedAtMs);
    this.#layout = layout;
  }

  async collect(): Promise<CollectionResult> {
    const scopeMetrics = scopeMetricsOf(await this.#read(), this.#startTime, this.#layout);
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [scopeMetrics] }, errors: [] };
  }
}

/** Readings as OpenTelemetry metric data, cumulative from `startTime`, the agent's start. */
export function scopeMetricsOf(readings: Readings, startTime: HrTime, layout: HistogramLayout): ScopeMetrics {
  const endTime = millisToHrTime(Date.now());
  const points = new Map<MetricKey, DataPoint<number>[]>();
  for (const { metric, value, attributes } of readings.values) {
    let list = points.get(metric);
    if (list === undefined) points.set(metric, list = []);
    list.push({ startTime, endTime, attributes, value });
  }
  const histograms = new Map<MetricKey, DataPoint<Histogram>[]>();
  for (const { metric, attributes, counts, count, sum, min, max } of readings.histograms) {
    let list = histograms.get(metric);
    if (list === undefined) histograms.set(metric, list = []);
    list.push({
      startTime, endTime, attributes,
      // Readings are made afresh for each collection, and the boundaries are the layout's:
      // exporters only read both, so neither is copied per data point.
      value: { buckets: { boundaries: layout[metric as HistogramKey] as number[], counts: counts as number[] }, sum, count, min, max },
    });
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
  for (const [metric, dataPoints] of histograms) {
    metrics.push({
      descriptor: descriptorOf(metric),
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    });
  }
  return { scope: SCOPE, metrics };
}

function descriptorOf(metric: MetricKey) {
  const { name, description, unit } = METRICS[metric];
  return { name, description, unit, valueType: ValueType.DOUBLE };
}
