import { ValueType, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, type CollectionResult, type DataPoint, type Histogram,
  type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { BOUNDARIES, METRICS, type MetricKey } from '../metrics/catalog.js';
import type { Readings } from '../peers/readings.js';
import { SCOPE } from './scope.js';

/**
 * Hands poolscope's figures to OpenTelemetry readers at collection time. The hot path only adds
 * to plain numbers; data points are built here, once per collection, from the readings of this
 * thread and of the threads and processes that report to it.
 */
export class PoolscopeMetricProducer implements MetricProducer {
  readonly #gather: () => Promise<Readings>;
  readonly #startTime: HrTime;

  constructor(gather: () => Promise<Readings>) {
    this.#gather = gather;
    this.#startTime = millisToHrTime(Date.now());
  }

  async collect(): Promise<CollectionResult> {
    const readings = await this.#gather();
    const endTime = millisToHrTime(Date.now());
    const startTime = this.#startTime;
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
        // Readings are made afresh for each collection, and the boundaries are the catalog's:
        // exporters only read both, so neither is copied per data point.
        value: { buckets: { boundaries: BOUNDARIES[metric as keyof typeof BOUNDARIES] as number[], counts: counts as number[] }, sum, count, min, max },
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
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: SCOPE, metrics }] }, errors: [] };
  }
}

function descriptorOf(metric: MetricKey) {
  const { name, description, unit } = METRICS[metric];
  return { name, description, unit, valueType: ValueType.DOUBLE };
}
