import { millisToHrTime } from '@opentelemetry/core';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import { scopeMetricsOf } from '../../dist/export/metric-producer.js';
import { HISTOGRAM_LAYOUTS } from '../../dist/metrics/catalog.js';
import type { Readings } from '../../dist/peers/readings.js';

/** The settings poolscope's endpoint had when it used the exporter's serializer. */
const serializer = new PrometheusSerializer(undefined, false, undefined, false, false);

/** What OpenTelemetry's Prometheus serializer writes for readings, as poolscope hands them to the SDK. */
export function serializerText(readings: Readings, resource: Resource): string {
  return serializer.serialize({ resource, scopeMetrics: [scopeMetricsOf(readings, millisToHrTime(Date.now()), HISTOGRAM_LAYOUTS.default)] });
}
