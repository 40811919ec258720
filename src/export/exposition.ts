import { setImmediate as turn } from 'node:timers/promises';
import type { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type MetricData, type ResourceMetrics, type ScopeMetrics } from '@opentelemetry/sdk-metrics';

/**
 * Exposition lines serialized between two turns of the event loop: ~2 ms of the serializer's
 * work on a 2-core VM.
 */
const LINES_PER_SLICE = 100;

/** What the exposition is written with: the exporter's serializer, and one that leaves out `target_info`. */
export interface Serializers {
  readonly first: PrometheusSerializer;
  readonly rest: PrometheusSerializer;
}

type Family = Array<{ readonly scope: ScopeMetrics['scope']; readonly metric: MetricData }>;

/**
 * Writes the Prometheus exposition of `resourceMetrics` in slices and lets the event loop run
 * between them. OpenTelemetry's serializer works in one synchronous call, and with `maxOrigins`
 * origins fully populated that is ~22,000 series (4 MiB) at the default 100: 150 ms during
 * which the app's event loop stood still (scrape benchmark). Each slice is the serializer's own
 * text for a few data points; a slice that continues a metric drops the `# HELP`/`# TYPE`
 * lines the serializer repeats, so the whole is what one call would have written.
 * `write` returns false when the reader is gone: the rest is not serialized.
 */
export async function writeExposition(
  resourceMetrics: ResourceMetrics, serializers: Serializers, write: (text: string) => boolean,
): Promise<void> {
  const { resource, scopeMetrics } = resourceMetrics;
  let lines = 0;
  for (const { metrics } of scopeMetrics) for (const metric of metrics) lines += metric.dataPoints.length * linesPerPoint(metric);
  if (lines <= LINES_PER_SLICE) {
    write(serializers.first.serialize(resourceMetrics));
    return;
  }
  let serializer = serializers.first;
  for (const family of families(scopeMetrics)) {
    let continuation = false;
    for (const { scope, metric } of family) {
      const size = Math.max(1, Math.floor(LINES_PER_SLICE / linesPerPoint(metric)));
      for (let start = 0; start === 0 || start < metric.dataPoints.length; start += size) {
        const slice = { ...metric, dataPoints: metric.dataPoints.slice(start, start + size) } as MetricData;
        const text = serializer.serialize({ resource, scopeMetrics: [{ scope, metrics: [slice] }] });
        serializer = serializers.rest;
        if (!write(continuation ? withoutMetadata(text) : text)) return;
        continuation = true;
        await turn();
      }
    }
  }
}

/** Metrics by name, in first-seen order: the serializer writes each name's samples together. */
function families(scopeMetrics: readonly ScopeMetrics[]): Iterable<Family> {
  const byName = new Map<string, Family>();
  for (const { scope, metrics } of scopeMetrics) {
    for (const metric of metrics) {
      const family = byName.get(metric.descriptor.name);
      if (family === undefined) byName.set(metric.descriptor.name, [{ scope, metric }]);
      else family.push({ scope, metric });
    }
  }
  return byName.values();
}

function linesPerPoint(metric: MetricData): number {
  if (metric.dataPointType !== DataPointType.HISTOGRAM) return 1;
  // One line per bucket, plus `_sum` and `_count`.
  return (metric.dataPoints[0]?.value.buckets.counts.length ?? 0) + 2;
}

/** The text without its leading comment lines (`# HELP`, `# UNIT`, `# TYPE`). */
function withoutMetadata(text: string): string {
  let start = 0;
  while (text.startsWith('# ', start)) {
    const end = text.indexOf('\n', start);
    if (end < 0) return '';
    start = end + 1;
  }
  return text.slice(start);
}
